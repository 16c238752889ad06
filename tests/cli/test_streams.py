"""``telebench streams`` on a real store folder (and a real WAL for ``state``)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from telebench.cli.streams import streams_group
from telebench.store.wal import WriteAheadLog
from telebench.streams import StreamStore


def run(store: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(streams_group, [*args, "--store", str(store)])
    return result.exit_code, result.stdout, result.stderr


def test_add_list_show_update_toggle_remove(tmp_path: Path) -> None:
    store = tmp_path / "hub"
    code, out, err = run(
        store, "add", "crm", "--uri", "http://127.0.0.1:9/in/%ident%", "-H", "Authorization: B t",
        "--limit-messages", "50", "--timeout", "2.5", "--filter", "position.speed > 5",
        "--subscribe", "devices:ident=35*", "--subscribe", "channel:3", "--queue-ttl", "600",
    )  # fmt: skip
    assert code == 0, err
    assert out == "added stream crm -> http://127.0.0.1:9/in/%ident%\n"
    code, out, _ = run(store, "show", "crm")
    shown = json.loads(out)
    assert shown["headers"] == {"Authorization": "B t"}
    assert shown["subscriptions"] == ["devices:ident=35*", "channel:3"]
    assert (shown["limit_messages"], shown["timeout"], shown["queue_ttl"]) == (50, 2.5, 600)
    assert run(store, "update", "crm", "--limit-messages", "7", "--subscribe", "all")[0] == 0
    with StreamStore(store) as streams:
        cfg = streams.get("crm")
    assert (cfg.limit_messages, cfg.subscriptions, cfg.filter) == (7, (), "position.speed > 5")
    assert run(store, "disable", "crm")[1] == "disabled stream crm\n"
    assert "crm   no " in run(store, "list")[1]
    assert run(store, "enable", "crm")[1] == "enabled stream crm\n"
    assert run(store, "remove", "crm")[1] == "removed stream crm\n"
    assert run(store, "list")[1].splitlines()[1:] == []


def test_errors_are_clear(tmp_path: Path) -> None:
    store = tmp_path / "hub"
    code, _, err = run(store, "add", "s", "--uri", "ftp://x/")
    assert code == 2
    assert "expected http" in err
    code, _, err = run(store, "add", "s", "--uri", "http://x/", "-H", "no colon")
    assert (code, "expected 'Name: value'" in err) == (2, True)
    code, _, err = run(store, "add", "s", "--uri", "http://x/", "--filter", "a >")
    assert (code, "unexpected end" in err) == (2, True)
    assert run(store, "add", "s", "--uri", "http://x/")[0] == 0
    code, _, err = run(store, "add", "s", "--uri", "http://x/")
    assert (code, "already exists" in err) == (2, True)
    code, _, err = run(store, "update", "nope", "--limit-messages", "3")
    assert (code, "no stream named 'nope'" in err) == (2, True)
    assert run(store, "show", "nope")[0] == 2


def test_state_counts_the_queue(tmp_path: Path) -> None:
    store = tmp_path / "hub"
    with WriteAheadLog(store / "wal", fsync=False) as wal:
        for n in range(3):
            wal.append(b'{"ident":"a","timestamp":1,"server.timestamp":%d}\n' % (100 + n) * 4)
    assert run(store, "add", "s", "--uri", "http://x/", "--from-seq", "1")[0] == 0
    code, out, _ = run(store, "state", "s")
    state = json.loads(out)
    assert code == 0
    assert (state["queue_size"], state["cursor"], state["enabled"]) == (8, [1, 0], True)
    assert state["lag_seconds"] > 0
    assert state["stats"]["delivered"] == 0
