"""The client of TMDB: it structures TMDB's answers, sends the key or the token as TMDB expects (and never both),
asks in the configured language and region, caches each answer for everyone, and waits as TMDB asks after a 429."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_tmdb.client import Asking, MovieDetails, Paged, TmdbClient, TvDetails, tmdb_headers
from medianest_tmdb.fake import FakeTmdb, Sample

from medianest_core.upstream import AuthFailed, Upstream, UpstreamConfig

FAST = UpstreamConfig(wait_initial=0.01, wait_max=0.05, breaker_failures=1000)


@pytest.fixture
async def upstreams() -> AsyncIterator[list[Upstream]]:
    made: list[Upstream] = []
    yield made
    for upstream in made:
        await upstream.close()


def client_for(
    fake: FakeTmdb, made: list[Upstream], *, key: str | None = None, token: str | None = None, **asking: Any
) -> TmdbClient:
    upstream = Upstream("tmdb", fake.api_url, headers=tmdb_headers(token), config=FAST)
    made.append(upstream)
    return TmdbClient(upstream, Asking(**asking), api_key=key)


async def test_answers_are_structured(fake: FakeTmdb, upstreams: list[Upstream]) -> None:
    client = client_for(fake, upstreams, key=fake.api_key)
    found = await client.search_multi("matrix")
    assert isinstance(found, Paged)
    assert [(item.media_type, item.id, item.title or item.name) for item in found.results] == [
        ("movie", Sample.MATRIX, "The Matrix"),
        ("movie", 1001, "The Matrix Reloaded"),
        ("tv", Sample.MATRIX, "The Matrix Files"),
        ("person", 1004, "Matrix Person"),
    ]
    assert found.results[0].title == "The Matrix"
    assert found.results[0].release_date == "1999-06-15"

    movie = await client.movie(Sample.MATRIX)
    assert isinstance(movie, MovieDetails)
    assert (movie.runtime, movie.external_ids.imdb_id, len(movie.credits.cast)) == (136, "tt0133093", 15)
    assert [genre.name for genre in movie.genres] == ["Action", "Science Fiction"]
    tv = await client.tv(Sample.BREAKING_BAD)
    assert isinstance(tv, TvDetails)
    assert (tv.external_ids.tvdb_id, tv.episode_run_time) == (81189, [0, 47, 45])
    assert [(season.season_number, season.episode_count) for season in tv.seasons] == [(0, 9), (1, 7), (2, 13)]
    assert (await client.configuration()).images.backdrop_sizes == ["w300", "w780", "w1280", "original"]
    assert [item.id for item in (await client.popular_tv()).results] == [Sample.BREAKING_BAD, Sample.MATRIX]

    assert await client.movie(424242) is None
    assert await client.tv(Sample.AMELIE) is None


async def test_details_come_in_one_call_with_everything_appended(fake: FakeTmdb, upstreams: list[Upstream]) -> None:
    client = client_for(fake, upstreams, key=fake.api_key)
    await client.movie(Sample.MATRIX)
    await client.tv(Sample.BREAKING_BAD)
    details = [
        call.query for call in fake.calls if call.path in (f"/3/movie/{Sample.MATRIX}", f"/3/tv/{Sample.BREAKING_BAD}")
    ]
    assert len(details) == 2
    assert {query["append_to_response"] for query in details} == {"credits,external_ids,videos"}


async def test_the_key_goes_in_the_query_and_the_token_in_a_header_never_both(
    fake: FakeTmdb, upstreams: list[Upstream]
) -> None:
    await client_for(fake, upstreams, key=fake.api_key).trending()
    call = fake.calls[-1]
    assert call.query["api_key"] == fake.api_key
    assert "Authorization" not in call.headers

    await client_for(fake, upstreams, token=fake.token).trending(page=2)
    call = fake.calls[-1]
    assert "api_key" not in call.query
    assert call.headers["Authorization"] == f"Bearer {fake.token}"

    with pytest.raises(AuthFailed) as refused:
        await client_for(fake, upstreams, key="not-the-key").configuration()
    assert "not-the-key" not in str(refused.value)


async def test_language_region_and_adult_titles_are_asked_as_tmdb_expects(
    fake: FakeTmdb, upstreams: list[Upstream]
) -> None:
    client = client_for(fake, upstreams, key=fake.api_key, language="de-DE", region="AT", include_adult=True)
    await client.search_multi("amélie")
    await client.popular_movies()
    await client.popular_tv()
    await client.movie(Sample.MATRIX)
    asked = {call.path: call.query for call in fake.calls}
    assert asked["/3/search/multi"]["include_adult"] == "true"
    assert asked["/3/search/multi"]["language"] == "de-DE"
    assert asked["/3/movie/popular"]["region"] == "AT"
    assert "region" not in asked["/3/tv/popular"]
    assert asked[f"/3/movie/{Sample.MATRIX}"]["include_video_language"] == "de,en,null"

    plain = client_for(fake, upstreams, key=fake.api_key)
    await plain.search_multi("amélie")
    await plain.popular_movies()
    assert fake.calls[-2].query["include_adult"] == "false"
    assert "region" not in fake.calls[-1].query


async def test_the_same_question_is_one_call_for_everyone(fake: FakeTmdb, upstreams: list[Upstream]) -> None:
    client = client_for(fake, upstreams, key=fake.api_key)
    answers = await asyncio.gather(*(client.search_multi("matrix") for _ in range(20)))
    assert {len(answer.results) for answer in answers} == {4}
    await client.search_multi("matrix")
    assert fake.count("/3/search/multi") == 1
    await client.search_multi("matrix", page=2)  # another page is another question
    await client.search_multi("breaking")
    assert fake.count("/3/search/multi") == 3

    for _ in range(3):
        await client.movie(Sample.MATRIX)
        await client.tv(Sample.MATRIX)  # the series 603 is not the film 603
        await client.trending()
    assert (fake.count(f"/3/movie/{Sample.MATRIX}"), fake.count(f"/3/tv/{Sample.MATRIX}")) == (1, 1)
    assert fake.count("/3/trending/all/week") == 1

    german = TmdbClient(client.upstream, Asking(language="de-DE"), api_key=fake.api_key)  # one cache, another
    await german.movie(Sample.MATRIX)  # language: another question
    assert fake.count(f"/3/movie/{Sample.MATRIX}") == 2


async def test_a_429_is_retried_after_the_wait_tmdb_asks_for(fake: FakeTmdb, upstreams: list[Upstream]) -> None:
    client = client_for(fake, upstreams, key=fake.api_key)
    fake.rate_limited, fake.retry_after = 1, "0.2"
    found = await client.search_multi("breaking")
    assert [item.name for item in found.results] == ["Breaking Bad"]
    assert fake.count("/3/search/multi") == 2
    first, second = fake.calls[-2:]
    assert second.at - first.at >= 0.2  # asked again only after the wait TMDB asked for
