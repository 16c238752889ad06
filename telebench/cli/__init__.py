"""The ``telebench`` command line.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(main, ["decode", "--protocol", "wialon_ips", "--ident", "1",
...                                    "--text", "#SD#270413;205601;NA;NA;NA;NA;1;2;3;4"])
>>> result.exit_code
0
"""

from __future__ import annotations

import click

from telebench import __version__
from telebench.cli.calc import calc_group, export_command
from telebench.cli.decode import decode_command
from telebench.cli.demo import demo_command
from telebench.cli.devices import devices_group
from telebench.cli.hub import hub_command
from telebench.cli.logs import logs_command
from telebench.cli.params import params_command
from telebench.cli.receiver import receiver_group
from telebench.cli.replay import replay_command
from telebench.cli.simulate import simulate_command
from telebench.cli.streams import streams_group

__all__ = ["main"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run 'telebench COMMAND --help' for the options and examples of each command.",
)
@click.version_option(__version__, prog_name="telebench")
def main() -> None:
    """telebench: a flespi-style telematics hub, fleet simulator and analytics workbench.

    Decode real tracker traffic (Teltonika, Wialon IPS, GT06, OsmAnd) into flespi-style
    messages, look up what each parameter means, and run the end-to-end demo.
    """


main.add_command(decode_command)
main.add_command(params_command)
main.add_command(demo_command)
main.add_command(hub_command)
main.add_command(devices_group)
main.add_command(logs_command)
main.add_command(streams_group)
main.add_command(receiver_group)
main.add_command(replay_command)
main.add_command(simulate_command)
main.add_command(calc_group)
main.add_command(export_command)
