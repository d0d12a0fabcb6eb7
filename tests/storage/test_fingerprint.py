from storage import canonical_json, file_sha256, fingerprint


def test_fingerprint_ignores_parameter_and_input_order():
    a = fingerprint("pdf", "v1", {"b": 1, "a": [1, 2]}, ["x", "y"])
    b = fingerprint("pdf", "v1", {"a": [1, 2], "b": 1}, ["y", "x"])
    assert a == b


def test_fingerprint_changes_with_code_version_params_and_inputs():
    base = fingerprint("pdf", "v1", {"t": 0.5}, ["x"])
    assert fingerprint("pdf", "v2", {"t": 0.5}, ["x"]) != base
    assert fingerprint("pdf", "v1", {"t": 0.6}, ["x"]) != base
    assert fingerprint("pdf", "v1", {"t": 0.5}, ["x", "z"]) != base
    assert fingerprint("web", "v1", {"t": 0.5}, ["x"]) != base


def test_file_sha256_depends_on_bytes_not_path_or_mtime(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    import hashlib

    assert file_sha256(a) == file_sha256(b) == hashlib.sha256(b"same bytes").hexdigest()
    b.write_bytes(b"other bytes")
    assert file_sha256(a) != file_sha256(b)


def test_canonical_json_dumps_pydantic_models():
    from s1data.pdf import PdfConfig

    assert canonical_json(PdfConfig()) == canonical_json(PdfConfig().model_dump(mode="json"))
