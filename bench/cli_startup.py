"""CLI start-up: `minke version` and `minke ps` against a live minked, beside
`docker version` / `docker ps` against the same minked (so the daemon's side is equal)."""

from __future__ import annotations

import subprocess

from common import DOCKER_CLI, minke_target, parse_repeat, ratio, report, summary, timed


def main() -> None:
    repeat = parse_repeat(30)
    results: dict[str, object] = {}
    with minke_target() as (target, _):
        env = target.env() | {"MINKE_HOST": target.host}
        for verb in ("version", "ps"):
            for cli in ("minke", DOCKER_CLI):
                key = f"{'minke' if cli == 'minke' else 'docker'} {verb}"
                results[key] = summary(timed(
                    lambda cli=cli, verb=verb: subprocess.run(
                        [cli, verb], env=env, capture_output=True, check=True),
                    repeat))
        results["help (no daemon)"] = summary(timed(
            lambda: subprocess.run(["minke", "--help"], capture_output=True, check=True),
            repeat))
    for verb in ("version", "ps"):
        results[f"ratio {verb} minke/docker"] = ratio(
            results[f"minke {verb}"]["median_s"],  # type: ignore[index]
            results[f"docker {verb}"]["median_s"])  # type: ignore[index]
    report("cli_startup", results)


if __name__ == "__main__":
    main()
