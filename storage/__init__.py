"""Storage: the storage root, artifact paths, fingerprints and the DuckDB manifest.

Nothing outside this package builds a path under $S1_HOME or writes SQL against the manifest.
"""

from storage.fingerprint import canonical_json, file_sha256, fingerprint, tree_sha256
from storage.manifest import Manifest, ManifestError, new_id
from storage.root import StorageRoot, dir_bytes, resolve_home

__all__ = ["StorageRoot", "Manifest", "ManifestError", "fingerprint", "file_sha256", "tree_sha256",
           "canonical_json", "resolve_home", "dir_bytes", "new_id", "open_storage"]


def open_storage(home=None, read_only: bool = False) -> tuple[StorageRoot, Manifest]:
    """The storage root and its manifest (created on first use unless read_only)."""
    root = StorageRoot.open(home, create=not read_only)
    return root, Manifest(root.manifest_path, read_only=read_only)
