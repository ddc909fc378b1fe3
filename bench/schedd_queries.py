"""Schedd queries per monitor interval while 20 clients poll the API as fast as they can.

Goal: 1 query per interval (the monitor's one batched query), however many pollers; REST
reads (jobs, one job, logs) never reach the schedd.
"""

from __future__ import annotations

import http.client
import shutil
import threading
import time

from _common import ServerProcess, workdir, write_notebook

POLLERS = 20
WINDOW_S = 10.0
INTERVAL = 1.0


def main() -> None:
    tmp = workdir("queries")
    server = ServerProcess(tmp, f"--SwanMLApp.poll_interval={INTERVAL}")
    write_notebook(server.root / "slow.ipynb", "import time\ntime.sleep(60)")
    server.start()
    token = server.client.server.token
    ids = [
        server.client.submit({"notebook": "slow.ipynb", "resources": {"memory_mb": 128}})["id"]
        for _ in range(3)
    ]
    stop = threading.Event()
    requests = [0] * POLLERS

    def poller(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        paths = ["/swan-ml-ext/jobs", f"/swan-ml-ext/jobs/{ids[n % 3]}",
                 f"/swan-ml-ext/jobs/{ids[n % 3]}/logs"]  # fmt: skip
        while not stop.is_set():
            conn.request("GET", paths[requests[n] % 3], headers={"Authorization": f"token {token}"})
            conn.getresponse().read()
            requests[n] += 1
        conn.close()

    try:
        before = server.client.backends()["backends"][0]["stats"]
        threads = [threading.Thread(target=poller, args=(n,)) for n in range(POLLERS)]
        for t in threads:
            t.start()
        time.sleep(WINDOW_S)
        stop.set()
        for t in threads:
            t.join()
        after = server.client.backends()["backends"][0]["stats"]
        queries = after["engine_queries"] - before["engine_queries"]
        polls = after["monitor_polls"] - before["monitor_polls"]
        print(f"\n## schedd queries with {POLLERS} concurrent API pollers ({WINDOW_S:.0f} s)")
        print(f"  API requests served: {sum(requests)} ({sum(requests) / WINDOW_S:.0f}/s)")
        print(f"  monitor intervals: {polls}, schedd queries: {queries}")
        per = queries / max(polls, 1)
        print(f"  queries per interval: {per:.2f}; goal 1: " + ("MET" if per <= 1.0 else "NOT MET"))
    finally:
        stop.set()
        for job_id in ids:
            server.client.cancel(job_id)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
