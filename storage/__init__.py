"""Storage: the storage root, artifact paths and I/O, fingerprints and the DuckDB manifest.

Nothing outside this package builds a path under $S1_HOME or writes SQL against the manifest. Artifact files are
read and written through `storage.io` (`loc`, `read_parquet`, `write_parquet`, ...), on local disk or an object store.
"""

from storage.fingerprint import canonical_json, file_sha256, fingerprint, tree_sha256
from storage.io import (Loc, copy_tree, file_digests, file_infos, is_remote, link_or_copy, list_files, loc,
                        local_copy, open_file, parquet_file, read_dataset, read_json, read_parquet, remove_tree, uri_of,
                        verify_digests, write_json, write_parquet)
from storage.manifest import Manifest, ManifestError, new_id
from storage.root import CommitError, StorageRoot, dir_bytes, resolve_artifacts, resolve_home

__all__ = ["StorageRoot", "Manifest", "ManifestError", "CommitError", "fingerprint", "file_sha256", "tree_sha256",
           "canonical_json", "resolve_home", "resolve_artifacts", "dir_bytes", "new_id", "open_storage",
           "Loc", "loc", "is_remote", "uri_of", "write_parquet", "read_parquet", "parquet_file", "list_files",
           "write_json", "read_json", "open_file", "local_copy", "file_infos", "copy_tree", "remove_tree",
           "link_or_copy", "read_dataset", "file_digests", "verify_digests"]


def open_storage(home=None, read_only: bool = False, artifacts=None) -> tuple[StorageRoot, Manifest]:
    """The storage root (artifacts at `artifacts`, else $S1_ARTIFACTS, else <home>/artifacts) and its manifest
    (created on first use unless read_only)."""
    root = StorageRoot.open(home, create=not read_only, artifacts=artifacts)
    return root, Manifest(root.manifest_path, read_only=read_only)
