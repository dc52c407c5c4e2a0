"""Certificate signing requests for SSL renewals (SPEC "SSL renewals need a
CSR"): an order whose category has ``renewal_needs_csr`` is renewed by hand
only with a PEM CSR, checked here (``csr_check``: it parses, its signature
holds, its key is one a certificate authority signs, and it names the
order's ``domain`` when the order has one), kept with the renewal
(``RenewalCsr``, per order and cycle) and handed to the provisioning hook by
a ``reissue`` event (``csrs_store``; the hook reads it with ``event_csr``).

Names match literally, case-insensitively and without a trailing dot: a
wildcard matches only the same wildcard (an order for ``*.example.com``
needs a CSR naming ``*.example.com``; a CSR for ``*.example.com`` does not
renew an order for ``www.example.com``, nor the reverse), so a certificate
is never reissued for names other than those the order was sold for.
"""

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from core.errors import DomainError
from core.queue import enqueue_on_commit
from renewals.models import EventOrigin, LifecycleEvent, RenewalCsr, Transition

# A CSR is 1-3 KB; anything much longer is not one (and is not stored).
CSR_MAX_CHARS = 16_000
MIN_RSA_BITS = 2048
PEM_HEADER = "-----BEGIN CERTIFICATE REQUEST-----"
# Every code a CSR is refused with (the API answers them 400: bad input).
CSR_CODES = frozenset(
    {
        "csr_required",
        "csr_not_needed",
        "csr_invalid",
        "csr_bad_signature",
        "csr_weak_key",
        "csr_private_key",
        "csr_wrong_domain",
    }
)


class CsrError(DomainError):
    """A refused CSR; ``order_id`` names the order whose CSR it was (a form
    shows the sentence next to that order's field)."""

    code = "csr_invalid"

    def __init__(self, message: str, *, code: str | None = None, order_id: int | None = None):
        super().__init__(message, code=code)
        self.order_id = order_id


@dataclass(frozen=True)
class CsrInfo:
    pem: str  # re-encoded from the parsed request: the CSR alone, whatever surrounded it
    common_name: str  # the subject's CN, else the first DNS name ("" when it names none)
    names: tuple[str, ...]  # the CN and the DNS names, lower case, as compared


def csr_check(pem: str, domain: str = "") -> CsrInfo:
    """Check a PEM certificate signing request for an order whose domain is
    ``domain`` ("" when the order has none). Raises CsrError with a sentence
    (codes ``csr_required``, ``csr_invalid``, ``csr_private_key``,
    ``csr_bad_signature``, ``csr_weak_key``, ``csr_wrong_domain``)."""
    text = (pem or "").strip()
    if not text:
        raise CsrError("a certificate signing request (CSR) is required", code="csr_required")
    if "PRIVATE KEY" in text:
        # Pasted with its key: refused and not stored, so the key is kept nowhere.
        raise CsrError(
            "the text contains a private key: never send it to anyone; paste only the CSR "
            f"(the block that begins with {PEM_HEADER})",
            code="csr_private_key",
        )
    if len(text) > CSR_MAX_CHARS:
        raise CsrError(f"the CSR is {len(text)} characters long; a CSR is at most {CSR_MAX_CHARS}")
    if not text.isascii() or "-----BEGIN" not in text:
        raise CsrError(f"this is not a PEM certificate signing request: paste the block that begins with {PEM_HEADER}")
    try:
        csr = x509.load_pem_x509_csr(text.encode("ascii"))
        names = _names(csr)
        key = csr.public_key()
        valid = csr.is_signature_valid
    except (
        ValueError,
        TypeError,
        UnsupportedAlgorithm,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ) as exc:
        raise CsrError(f"this is not a readable PEM certificate signing request ({exc})") from None
    if not valid:
        raise CsrError(
            "the CSR's signature does not match its contents (it was altered or damaged); generate it again",
            code="csr_bad_signature",
        )
    _check_key(key)
    common_name, dns = names
    compared = tuple(dict.fromkeys(_normal(n) for n in (common_name, *dns) if n))
    if not compared:
        raise CsrError("the CSR names no domain (no common name and no DNS name)", code="csr_wrong_domain")
    if domain and _normal(domain) not in compared:
        raise CsrError(
            f"the CSR is for {', '.join(compared)}, not for {domain}: generate it for {domain}",
            code="csr_wrong_domain",
        )
    return CsrInfo(
        pem=csr.public_bytes(Encoding.PEM).decode("ascii"),
        common_name=(common_name or (dns[0] if dns else ""))[:253],
        names=compared,
    )


def order_csr(*, order_id: int, order_ref: str, needs_csr: bool, domain: str, pem: str | None) -> CsrInfo | None:
    """The checked CSR of one order being renewed by hand, or None when its
    category asks for none; refusals name the order (and carry its id)."""
    given = (pem or "").strip()
    if not needs_csr:
        if given:
            raise CsrError(
                f"order {order_ref} does not take a certificate signing request; renew it without one",
                code="csr_not_needed",
                order_id=order_id,
            )
        return None
    if not given:
        raise CsrError(
            f"order {order_ref}: renewing this certificate needs a certificate signing request (CSR); "
            f"paste the PEM text that begins with {PEM_HEADER}",
            code="csr_required",
            order_id=order_id,
        )
    try:
        return csr_check(given, domain)
    except CsrError as exc:
        raise CsrError(f"order {order_ref}: {exc.message}", code=exc.code, order_id=order_id) from None


def csrs_store(renewed: list[tuple[int, datetime.date, CsrInfo]], *, on: datetime.date) -> None:
    """In the renewal's transaction: each (order id, cycle renewed, CSR)
    kept as a ``RenewalCsr`` and a ``reissue`` event (origin renewal, the
    same cycle) whose provisioning hook runs after the commit and is retried
    like any other (renewals.lifecycle.provisioning_run). The cycle is the
    paid-thru date renewed (the invoice line's period start)."""
    if not renewed:
        return
    RenewalCsr.objects.bulk_create(
        [RenewalCsr(order_id=o, cycle=cycle, pem=info.pem, common_name=info.common_name) for o, cycle, info in renewed]
    )
    LifecycleEvent.objects.bulk_create(
        [
            LifecycleEvent(
                order_id=o, transition=Transition.REISSUE, origin=EventOrigin.RENEWAL, cycle=cycle, business_date=on
            )
            for o, cycle, _info in renewed
        ]
    )
    enqueue_on_commit("renewals.tasks.run_provisioning_hooks")


def event_csr(event: LifecycleEvent) -> RenewalCsr | None:
    """What a provisioning hook reads for a ``reissue`` event: the CSR the
    order was renewed with for the event's cycle (``.pem``, ``.common_name``);
    None for any other event."""
    if event.transition != Transition.REISSUE:
        return None
    return RenewalCsr.objects.filter(order_id=event.order_id, cycle=event.cycle).first()


def _names(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value).strip() if cns else ""
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return common_name, []
    return common_name, [str(name).strip() for name in san.get_values_for_type(x509.DNSName)]


def _check_key(key) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrError(
                f"the CSR's key is RSA {key.key_size} bits; certificate authorities need at least {MIN_RSA_BITS}",
                code="csr_weak_key",
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise CsrError(f"the CSR's key is on the curve {key.curve.name}; use P-256 or P-384", code="csr_weak_key")
        return
    raise CsrError(
        "the CSR's key is neither RSA nor ECDSA; certificate authorities sign only those", code="csr_weak_key"
    )


def _normal(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    if name.isascii():
        return name
    try:  # an internationalised domain compares as its A-label (xn--...)
        return ".".join(label.encode("idna").decode("ascii") if label != "*" else label for label in name.split("."))
    except UnicodeError:
        return name
