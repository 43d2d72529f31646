"""Benchmark: generate a 100,000-user sandbox tenant (no mail) and serve its first /users page.

    .venv/bin/python bench/sandbox_generate.py [--users 100000] [--seed 1]

Prints wall time of generation, loading and the first page over TLS, and peak memory
(tracemalloc for Python allocations, ru_maxrss for the process).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from m365sandbox import Sandbox, SandboxServer
from m365sandbox.generator import generate_tenant

CLIENT_ID = "00000000-bench-0000-0000-000000000001"
SECRET = "bench-secret-value"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t0 = time.perf_counter()
    seed = generate_tenant(seed=args.seed, users=args.users, messages_per_mailbox=0)
    t1 = time.perf_counter()
    sb = Sandbox(profile="fast")
    sb.register_app(CLIENT_ID, secret=SECRET)
    tenant = sb.add_tenant(seed)
    sb.grant_consent(tenant.id, CLIENT_ID, "basic")
    t2 = time.perf_counter()
    with SandboxServer(sb) as srv, httpx.Client(verify=srv.ca_file, trust_env=False) as c:
        t3 = time.perf_counter()
        token = c.post(f"{srv.url}/{tenant.id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        page = c.get(f"{srv.url}/v1.0/users", params={"$top": "999", "$select": "id,proxyAddresses"},
                     headers={"Authorization": f"Bearer {token}"}).json()
        t4 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"users generated:        {len(seed.users):,}")
    print(f"generate_tenant:        {t1 - t0:8.2f} s")
    print(f"load into sandbox:      {t2 - t1:8.2f} s")
    print(f"first /users page:      {t4 - t3:8.3f} s ({len(page['value'])} users, token included)")
    print(f"total wall time:        {t4 - t0:8.2f} s")
    print(f"peak RSS:               {rss_mb:8.1f} MiB")
    print(json.dumps({"users": len(seed.users), "generate_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 2),
                      "first_page_s": round(t4 - t3, 3), "total_s": round(t4 - t0, 2),
                      "peak_rss_mib": round(rss_mb, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
