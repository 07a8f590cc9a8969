"""Evidence kinds and what their bytes must look like (magic bytes, never the file name)."""

from __future__ import annotations

from enum import StrEnum

from services.common.errors import FieldViolation, InvalidArgument

# Enough leading bytes to recognise every format below.
SNIFF_BYTES = 16


class EvidenceKind(StrEnum):
    PHOTO = "photo"
    AUDIO = "audio"
    DOCUMENT = "document"
    SIGNATURE = "signature"


def sniff_media_type(head: bytes) -> str | None:
    """The media type the leading bytes prove, or None when they match no accepted format."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"mp42", b"isom", b"3gp4", b"3gp5", b"3g2a"):
            return "audio/mp4"
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        return None
    if head.startswith(b"ADIF") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0):
        return "audio/aac"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    return None


ACCEPTED_TYPES: dict[EvidenceKind, frozenset[str]] = {
    EvidenceKind.PHOTO: frozenset({"image/jpeg", "image/png", "image/heic"}),
    EvidenceKind.AUDIO: frozenset({"audio/mp4", "audio/aac", "audio/amr", "audio/mpeg"}),
    EvidenceKind.DOCUMENT: frozenset({"application/pdf", "image/jpeg", "image/png"}),
    EvidenceKind.SIGNATURE: frozenset({"image/png", "image/jpeg"}),
}


def check_kind(value: str) -> EvidenceKind:
    try:
        return EvidenceKind(value)
    except ValueError:
        raise InvalidArgument.for_field(
            "kind", "must be one of " + ", ".join(k.value for k in EvidenceKind if k is not EvidenceKind.SIGNATURE)
        ) from None


def check_content(kind: EvidenceKind, head: bytes) -> str:
    """The sniffed media type, if ``kind`` accepts it; else an error naming the file."""
    media_type = sniff_media_type(head)
    if media_type is None or media_type not in ACCEPTED_TYPES[kind]:
        accepted = ", ".join(sorted(ACCEPTED_TYPES[kind]))
        found = media_type or "an unrecognised format"
        raise InvalidArgument(
            f"file: the content is {found}; a {kind.value} must be {accepted}",
            [FieldViolation("file", f"content is {found}; a {kind.value} must be one of {accepted}")],
            reason="EVIDENCE_TYPE_REFUSED",
        )
    return media_type


def too_large(max_bytes: int) -> InvalidArgument:
    return InvalidArgument(
        f"file: larger than the limit of {max_bytes} bytes",
        [FieldViolation("file", f"must be at most {max_bytes} bytes")],
        reason="EVIDENCE_TOO_LARGE",
    )
