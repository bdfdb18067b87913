"""What the command-line tools share: bad input reported in one line, not a traceback, and
the launch arguments of ``tools/train.py`` and ``tools/test.py``."""
import argparse
import contextlib
import os
import sys
from typing import Iterator, Tuple, Type

from .checkpoint import CheckpointDamagedError, CheckpointSecurityError
from .config_checks import ConfigKeyError

#: The documented errors of bad input (a config key or value, a dataset or video file, a
#: checkpoint of another config, damaged or needing globals outside the allow-list), each
#: raised with a message naming the file or key and what is wrong.
USER_ERRORS: Tuple[Type[BaseException], ...] = (
    ValueError, FileNotFoundError, ConfigKeyError, CheckpointDamagedError,
    CheckpointSecurityError)


@contextlib.contextmanager
def exit_on_user_error(tool: str, also: Tuple[Type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn a :data:`USER_ERRORS` (or ``also``) error raised inside into the exit of ``tool``
    with the one line ``<tool>: <error type>: <message>`` (status 1); other errors are bugs
    and keep their traceback."""
    try:
        yield
    except (*USER_ERRORS, *also) as error:
        sys.exit(f'{tool}: {type(error).__name__}: {error}')


def parse_launch_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Add the arguments mmengine's launchers pass to ``parser`` and parse ``argv``:
    ``--launcher`` and ``--local_rank`` (torch.distributed.launch passes it; torchrun sets
    LOCAL_RANK instead, which is set from it where no launcher did)."""
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args
