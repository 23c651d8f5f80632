"""Decode the SCSI result the kernel prints as ``return code = 0x20008``.

The 32-bit result packs four bytes (include/scsi/scsi.h in 2.6, scsi_status.h today):
driver byte (bits 24-31; its high nibble held a "suggestion" until 5.x), host byte (16-23:
what the HBA or hypervisor said), message byte (8-15) and the SAM status byte (0-7: what the
device said). ``0x20008`` is host byte DID_BUS_BUSY with status BUSY: the classic answer of a
VMware virtual SCSI controller while ESX fails over to another storage path.
"""

from __future__ import annotations

from dataclasses import dataclass

# include/scsi/scsi_status.h: enum host_status.
HOST_BYTES: dict[int, str] = {
    0x00: "DID_OK",
    0x01: "DID_NO_CONNECT",
    0x02: "DID_BUS_BUSY",
    0x03: "DID_TIME_OUT",
    0x04: "DID_BAD_TARGET",
    0x05: "DID_ABORT",
    0x06: "DID_PARITY",
    0x07: "DID_ERROR",
    0x08: "DID_RESET",
    0x09: "DID_BAD_INTR",
    0x0A: "DID_PASSTHROUGH",
    0x0B: "DID_SOFT_ERROR",
    0x0C: "DID_IMM_RETRY",
    0x0D: "DID_REQUEUE",
    0x0E: "DID_TRANSPORT_DISRUPTED",
    0x0F: "DID_TRANSPORT_FAILFAST",
    0x10: "DID_TARGET_FAILURE",
    0x11: "DID_NEXUS_FAILURE",
    0x12: "DID_ALLOC_FAILURE",
    0x13: "DID_MEDIUM_ERROR",
    0x14: "DID_TRANSPORT_MARGINAL",
}

# Low nibble of the driver byte (include/scsi/scsi.h before 5.14).
DRIVER_BYTES: dict[int, str] = {
    0x00: "DRIVER_OK",
    0x01: "DRIVER_BUSY",
    0x02: "DRIVER_SOFT",
    0x03: "DRIVER_MEDIA",
    0x04: "DRIVER_ERROR",
    0x05: "DRIVER_INVALID",
    0x06: "DRIVER_TIMEOUT",
    0x07: "DRIVER_HARD",
    0x08: "DRIVER_SENSE",
}

# High nibble of the driver byte in 2.6-era kernels.
SUGGESTIONS: dict[int, str] = {
    0x10: "SUGGEST_RETRY",
    0x20: "SUGGEST_ABORT",
    0x30: "SUGGEST_REMAP",
    0x40: "SUGGEST_DIE",
    0x80: "SUGGEST_SENSE",
}

# SAM status codes (include/scsi/scsi_proto.h).
STATUS_BYTES: dict[int, str] = {
    0x00: "GOOD",
    0x02: "CHECK_CONDITION",
    0x04: "CONDITION_MET",
    0x08: "BUSY",
    0x10: "INTERMEDIATE",
    0x14: "INTERMEDIATE_CONDITION_MET",
    0x18: "RESERVATION_CONFLICT",
    0x22: "COMMAND_TERMINATED",
    0x28: "TASK_SET_FULL",
    0x30: "ACA_ACTIVE",
    0x40: "TASK_ABORTED",
}


@dataclass(frozen=True, slots=True)
class ScsiResult:
    """A decoded SCSI result."""

    code: int
    host_byte: str
    driver_byte: str
    suggestion: str | None
    status: str

    def describe(self) -> str:
        """``DID_BUS_BUSY + status BUSY``: the bytes that say something."""
        parts = [self.host_byte] if self.host_byte != "DID_OK" else []
        if self.driver_byte != "DRIVER_OK":
            parts.append(self.driver_byte)
        if self.suggestion:
            parts.append(self.suggestion)
        if self.status != "GOOD":
            parts.append(f"status {self.status}")
        return " + ".join(parts) or "DID_OK"


def _name(table: dict[int, str], value: int, prefix: str) -> str:
    return table.get(value, f"{prefix}0x{value:02x}")


def decode_result(code: int) -> ScsiResult:
    """Split a SCSI result into named bytes."""
    driver = (code >> 24) & 0xFF
    return ScsiResult(
        code=code,
        host_byte=_name(HOST_BYTES, (code >> 16) & 0xFF, "host byte "),
        driver_byte=_name(DRIVER_BYTES, driver & 0x0F, "driver byte "),
        suggestion=SUGGESTIONS.get(driver & 0xF0),
        status=_name(STATUS_BYTES, code & 0xFF, "status "),
    )


def parse_result(text: str) -> ScsiResult | None:
    """Decode ``0x20008``; None if the text is not a hex number that fits 32 bits."""
    try:
        code = int(text, 16)
    except ValueError:
        return None
    return decode_result(code) if 0 <= code <= 0xFFFFFFFF else None
