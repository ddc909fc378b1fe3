"""The Spark UI route (spark/ui/{sid}/...) against a real local Spark (pyspark in this test
process) and the in-process Jupyter server: every Spark page under our prefix (jobs, a
stage's task table, executors), Spark's kill form through the route, Jupyter credentials
never forwarded, POSTs only with the token or from this origin, unknown/ended sessions 404."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError

from . import spark_ui_helpers
from .spark_ui_helpers import Recorder, Slow, info, until

# The helpers' fixtures, under their names.
spark = spark_ui_helpers.spark
spark_mgr = spark_ui_helpers.spark_mgr
recorder = spark_ui_helpers.recorder
jp_server_config = spark_ui_helpers.jp_server_config


# -- the UI route -----------------------------------------------------------------------------
async def test_ui_route_serves_every_spark_page_under_our_prefix(
    spark: Any, spark_mgr: Any, jp_fetch: Any, jp_base_url: str
) -> None:
    session = spark_mgr.registry.register(info(spark), source="kernel")
    prefix = f"{jp_base_url}swan-ml-ext/spark/ui/{session.id}"

    async def page(path: str, **kwargs: Any) -> Any:
        return await jp_fetch("swan-ml-ext", "spark", "ui", session.id, path, **kwargs)

    jobs = (await page("jobs/")).body.decode()
    assert "Spark Jobs" in jobs and f'href="{prefix}/stages/' in jobs
    assert "proxy" not in prefix
    stage = await page("stages/stage/", params={"id": "0", "attempt": "0"})
    assert f"{prefix}/static/stagepage.js" in stage.body.decode()
    # The stage page's task table and the executors page load this JSON through the route
    app = session.app_id
    tasks = json.loads((await page(f"api/v1/applications/{app}/stages/0/0/taskList")).body)
    assert len(tasks) == 2
    assert "executorspage.js" in (await page("executors/")).body.decode()
    execs = json.loads((await page(f"api/v1/applications/{app}/executors")).body)
    assert execs[0]["id"] == "driver"
    # The bare session URL leads to the jobs page
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("swan-ml-ext", "spark", "ui", session.id, follow_redirects=False)
    assert e.value.code == 302 and e.value.response.headers["Location"].endswith("/jobs/")


async def test_ui_route_kill_form_posts_through(
    spark: Any, spark_mgr: Any, jp_fetch: Any, jp_base_url: str
) -> None:
    session = spark_mgr.registry.register(info(spark), source="kernel")
    slow = Slow(spark, "cell-ui-kill", 20)

    async def running() -> Any:
        await spark_mgr.poller.tick()
        return [j for j in session.jobs if j["status"] == "RUNNING"]

    job = (await until(running, what="a running job"))[0]
    page = await jp_fetch("swan-ml-ext", "spark", "ui", session.id, "jobs/")
    token = re.search(rb'name="csrfToken" value="([^"]+)"', page.body).group(1).decode()
    # A token-authenticated POST of Spark's own form passes through; Spark redirects
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "swan-ml-ext", "spark", "ui", session.id, "jobs/job/kill/",
            method="POST", follow_redirects=False,
            body=urlencode({"id": job["job_id"], "csrfToken": token}),
        )  # fmt: skip
    assert e.value.code == 302
    assert e.value.response.headers["Location"].startswith(
        f"{jp_base_url}swan-ml-ext/spark/ui/{session.id}/"
    )
    slow.thread.join(15)
    assert slow.error is not None


async def test_ui_route_forwards_no_jupyter_credentials(
    spark_mgr: Any, jp_fetch: Any, recorder: int, jp_base_url: str, jp_serverapp: Any
) -> None:
    token = jp_serverapp.identity_provider.token
    # Given a session registered in-process whose "UI" records what it receives
    session = spark_mgr.registry.register(
        {"kind": "classic", "app_id": "rec", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
    )
    # When a page is fetched with the token header, a cookie and token/_xsrf query args
    resp = await jp_fetch(
        "swan-ml-ext", "spark", "ui", session.id, "jobs/",
        params={"token": token, "_xsrf": "x", "keep": "1"},
        headers={
            "Cookie": "_xsrf=abc; username-127-0-0-1=secret", "X-XSRFToken": "abc",
            "Referer": f"http://localhost/lab?token={token}", "Origin": "http://localhost",
        },
    )  # fmt: skip
    # Then the page arrives, without the UI's cookie, and the UI got no credential
    assert resp.body == b"recorded"
    assert not [c for c in resp.headers.get_list("Set-Cookie") if c.startswith("spark=")]
    path, headers = Recorder.seen[-1]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert path == "/jobs/?keep=1"
    for name in ("authorization", "cookie", "x-xsrftoken", "referer", "origin"):
        assert name not in lowered, lowered
    assert token not in json.dumps(headers) + path
    assert lowered["x-forwarded-context"] == f"{jp_base_url}swan-ml-ext/spark/ui/{session.id}"


async def test_ui_route_refuses_unknown_and_ended_sessions(
    spark_mgr: Any, jp_fetch: Any, recorder: int
) -> None:
    session = spark_mgr.registry.register(
        {"kind": "classic", "app_id": "rec", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
    )
    spark_mgr.registry.end(session.id)
    for sid in (session.id, "unknown", f"127.0.0.1:{recorder}"):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("swan-ml-ext", "spark", "ui", sid, "jobs/")
        assert e.value.code == 404
    # Another port cannot be reached through a live session's route either
    live = spark_mgr.registry.register(
        {"kind": "classic", "app_id": "rec2", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
    )
    await jp_fetch("swan-ml-ext", "spark", "ui", live.id, "127.0.0.1:1", "x")
    assert Recorder.seen[-1][0] == "/127.0.0.1:1/x"  # a path on the registered UI, nothing else
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("swan-ml-ext", "spark", "ui", live.id, "jobs/", method="DELETE")
    assert e.value.code == 405
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("swan-ml-ext", "spark", "sessions", "unknown", "jobs")
    assert e.value.code == 404


async def test_ui_route_paths_stay_on_the_registered_port(
    spark_mgr: Any, recorder: int, http_server_client: Any, jp_base_url: str, jp_auth_header: Any
) -> None:
    # Given a live session whose "UI" is the recorder
    session = spark_mgr.registry.register(
        {"kind": "classic", "app_id": "rec", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
    )
    base = f"{jp_base_url}swan-ml-ext/spark/ui/{session.id}"
    # When paths try to climb out of it or name another host and port (sent as they are)
    for tail in (
        "/..%2F..%2F..%2Fapi%2Fkernels",
        "/%2E%2E/%2E%2E/x",
        "//127.0.0.1:1/x",
        "///127.0.0.1:1/x",
        "/http:%2F%2F127.0.0.1:1%2Fx",
        "/@127.0.0.1:1/x",
    ):
        Recorder.seen.clear()
        resp = await http_server_client.fetch(
            base + tail, headers=jp_auth_header, follow_redirects=False, raise_error=False
        )
        # Then each is a path on the registered UI (the recorder answers), or refused
        proxied = [path for path, headers in Recorder.seen if "X-Forwarded-Context" in headers]
        if resp.code == 200:
            assert resp.body == b"recorded" and len(proxied) == 1, (tail, proxied)
        else:
            assert 400 <= resp.code < 500 and proxied == [], (tail, resp.code)


async def test_ui_route_post_needs_the_token_or_this_origin(
    spark_mgr: Any, jp_fetch: Any, recorder: int, jp_serverapp: Any
) -> None:
    """Spark's forms carry Spark's CSRF token, not Jupyter's _xsrf: a cookie-authenticated
    POST passes only from this server's own pages (Origin/Referer), a token one always."""
    session = spark_mgr.registry.register(
        {"kind": "classic", "app_id": "rec", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
    )
    # Given a browser's login cookie (what ?token= in the URL gives)
    login = await jp_fetch(
        "swan-ml-ext", "spark", "ui", session.id, "jobs/",
        params={"token": jp_serverapp.identity_provider.token}, headers={"Authorization": ""},
    )  # fmt: skip
    cookie = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    origin = "http://" + login.request.url.split("/")[2]
    form = "id=1&csrfToken=spark-token"

    async def post(referer: str, **more: str) -> int:
        try:
            resp = await jp_fetch(
                "swan-ml-ext", "spark", "ui", session.id, "jobs/job/kill/", method="POST",
                body=form, follow_redirects=False,
                headers={"Authorization": "", "Cookie": cookie, "Referer": referer, **more},
            )  # fmt: skip
            return resp.code
        except HTTPClientError as e:
            return e.code

    # When the form is posted from another site, it is refused before Spark sees it
    Recorder.seen.clear()
    assert await post("https://evil.example.org/page") == 403
    assert await post(f"{origin}/x", Origin="https://evil.example.org") == 403
    assert Recorder.seen == []
    # When it is posted from the Spark page served here, it reaches Spark (which checks its token)
    assert await post(f"{origin}/swan-ml-ext/spark/ui/{session.id}/jobs/") == 302
    assert await post("", Origin=origin) == 302  # a browser that sends no Referer
    assert Recorder.seen == [(f"POST /jobs/job/kill/ {form}", {})] * 2
