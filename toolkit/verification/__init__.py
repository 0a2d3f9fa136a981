"""``edgecv verify`` (build side): parity of exported model files against the torch reference."""
from edgecv.verification.api import Row, VerifyResult, verify

__all__ = ["Row", "VerifyResult", "verify"]
