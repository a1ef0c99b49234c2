"""One reader of botocore's data files per process, shared by every botocore session the walkthrough makes.

Each new botocore session otherwise gets a loader of its own, which lists
botocore's ~400 service folders and parses endpoints.json and each service
model it is asked for again: 0.08 s of a new session's 0.1 s of CPU when it
makes its first client. On AWS the walkthrough makes a new session for each
client, so that each one reads the credential chain afresh (``aws.session``),
which cost a notebook kernel on AWS about 0.7 s. The loader holds only
botocore's read-only model files, so sharing it changes no answer; the
credentials, configuration and event handlers stay each session's own.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


class _UniquePaths(list):
    """A loader's search paths, each folder once: boto3 appends its own data folder at every new session."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def shared_loader(data_path: str | None = None) -> botocore.loaders.Loader:
    """The process's loader for ``data_path`` (``AWS_DATA_PATH``; None: botocore's own folders)."""
    loader = botocore.loaders.create_loader(data_path)
    loader._search_paths = _UniquePaths(loader.search_paths)  # botocore keeps them there and only reads them
    return loader


def share_loader(session: botocore.session.Session) -> botocore.session.Session:
    """``session``, reading botocore's data through the process's shared loader (before it makes any client)."""
    session.register_component("data_loader", shared_loader(session.get_config_variable("data_path")))
    return session
