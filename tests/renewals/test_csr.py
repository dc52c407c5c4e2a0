"""SSL renewals need a CSR (SPEC "Per-order settings ... SSL renewals need a
CSR"): the check itself (pure), then the manual renewal service that refuses
a missing or bad CSR with nothing charged, and keeps a good one with the
renewal for the provisioning hook."""

import dataclasses
import datetime
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from balances.models import Account, LedgerEntry
from catalog.models import Category
from core.errors import DomainError
from invoices.models import Invoice
from orders.models import Order
from renewals.csr import CsrError, CsrInfo, csr_check
from renewals.lifecycle import provisioning_run
from renewals.manual import renewal_pay, renewal_quote
from renewals.models import EventOrigin, HookState, LifecycleEvent, RenewalCsr, Transition
from renewals.selectors import order_renewal_outlook
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 3)
DOMAIN = "shop.example.com"
HOOKED = []


def _ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(common_name: str | None = DOMAIN, *, sans=(), key=None) -> str:
    """A PEM CSR signed by a fresh P-256 key (or ``key``)."""
    key = key or _ec_key()
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def tampered_csr(common_name: str = DOMAIN) -> str:
    """A CSR whose signature has one byte flipped (RSA: the signature is raw
    bytes at the end of the DER, so it still parses)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = bytearray(x509.load_pem_x509_csr(make_csr(common_name, key=key).encode()).public_bytes(Encoding.DER))
    der[-5] ^= 0x01
    return x509.load_der_x509_csr(bytes(der)).public_bytes(Encoding.PEM).decode()


GARBAGE = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n"


def hook_recording_csr(event):
    from renewals.csr import event_csr

    csr = event_csr(event)
    HOOKED.append((event.order.ref, event.transition, csr.pem if csr else None))


@pytest.fixture(autouse=True)
def _clear_hooked():
    HOOKED.clear()


# --- the check, pure ---------------------------------------------------------


def test_a_good_csr_is_read_and_kept_alone():
    pem = make_csr(DOMAIN, sans=["www.shop.example.com"])
    info = csr_check("Here is my CSR:\n" + pem + "\nthanks", DOMAIN)
    assert info.common_name == DOMAIN
    assert info.names == (DOMAIN, "www.shop.example.com")
    assert info.pem == pem  # the request alone, whatever surrounded it


@pytest.mark.parametrize(
    ("csr", "domain"),
    [
        (make_csr("SHOP.Example.COM."), DOMAIN),  # case and a trailing dot do not matter
        (make_csr("another.test", sans=["another.test", DOMAIN]), DOMAIN),  # a DNS name matches as well
        (make_csr(None, sans=[DOMAIN]), DOMAIN),  # no CN: the DNS name is its name
        (make_csr("*.example.com"), "*.example.com"),  # a wildcard order, a wildcard CSR
        (make_csr("anything.test"), ""),  # an order without a domain takes any named CSR
    ],
)
def test_the_csr_must_name_the_order_s_domain(csr, domain):
    assert csr_check(csr, domain).names


@pytest.mark.parametrize(
    ("csr", "domain", "code", "message"),
    [
        ("", DOMAIN, "csr_required", "a certificate signing request \\(CSR\\) is required"),
        ("hello", DOMAIN, "csr_invalid", "this is not a PEM certificate signing request"),
        (GARBAGE, DOMAIN, "csr_invalid", "this is not a readable PEM certificate signing request"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nü\n", DOMAIN, "csr_invalid", "not a PEM certificate signing request"),
        (make_csr("other.test"), DOMAIN, "csr_wrong_domain", f"the CSR is for other.test, not for {DOMAIN}"),
        (make_csr("*.example.com"), DOMAIN, "csr_wrong_domain", "the CSR is for \\*.example.com, not for"),
        (make_csr(DOMAIN), "*.example.com", "csr_wrong_domain", "not for \\*.example.com"),
        (make_csr(None), "", "csr_wrong_domain", "the CSR names no domain"),
        ("x" * 16_001, DOMAIN, "csr_invalid", "a CSR is at most 16000"),
    ],
)
def test_bad_csrs_are_refused_saying_why(csr, domain, code, message):
    with pytest.raises(CsrError, match=message) as caught:
        csr_check(csr, domain)
    assert caught.value.code == code


def test_a_tampered_signature_is_refused():
    with pytest.raises(CsrError, match="signature does not match its contents") as caught:
        csr_check(tampered_csr(), DOMAIN)
    assert caught.value.code == "csr_bad_signature"


def test_a_private_key_pasted_with_the_csr_is_refused():
    key = _ec_key()
    secret = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with pytest.raises(CsrError, match="contains a private key: never send it") as caught:
        csr_check(make_csr(key=key) + secret, DOMAIN)
    assert caught.value.code == "csr_private_key"


def test_a_weak_key_is_refused():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CsrError, match="RSA 1024 bits; certificate authorities need at least 2048") as caught:
        csr_check(make_csr(key=weak), DOMAIN)
    assert caught.value.code == "csr_weak_key"


# --- the manual renewal --------------------------------------------------------


def jane():
    return Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=Customer.objects.get(ref="c1").pk)


def oid(ref):
    return Order.objects.get(ref=ref).pk


def load_ssl(portal, balance="100.00"):
    """c1 holds s1, a 12-month certificate for shop.example.com whose category
    asks for a CSR, and o1, a hosting order that does not."""
    portal(
        [order("s1", D(2026, 12, 10), plan="cert", tenure=12, auto_renew=False), order("o1", D(2026, 12, 10))],
        customers=[{"ref": "c1", "name": "Jane", "email": "jane@example.test", "reseller": "r1", "balance": balance}],
    )
    Category.objects.filter(ref="ssl").update(renewal_needs_csr=True)
    Order.objects.filter(ref="s1").update(domain=DOMAIN)


@pytest.fixture
def ssl(portal):
    load_ssl(portal)


def nothing_charged():
    assert Account.objects.get(customer__ref="c1").balance == Decimal("100.00")
    assert not Invoice.objects.exists()
    assert not LedgerEntry.objects.filter(kind="renewal").exists()
    assert not RenewalCsr.objects.exists()
    assert not LifecycleEvent.objects.exists()
    assert Order.objects.get(ref="s1").expires_on == D(2026, 12, 10)


def test_a_quote_without_the_csr_is_refused_naming_the_order(ssl):
    with pytest.raises(CsrError, match="order s1: renewing this certificate needs a certificate signing request") as e:
        renewal_quote(actor=jane(), items=[(oid("o1"), 1), (oid("s1"), 12)])
    assert (e.value.code, e.value.order_id) == ("csr_required", oid("s1"))


@pytest.mark.parametrize(
    ("csr", "code", "message"),
    [
        (lambda: GARBAGE, "csr_invalid", "order s1: this is not a readable PEM certificate signing request"),
        (tampered_csr, "csr_bad_signature", "order s1: the CSR's signature does not match"),
        (lambda: make_csr("other.test"), "csr_wrong_domain", f"order s1: the CSR is for other.test, not for {DOMAIN}"),
    ],
)
def test_quote_and_pay_refuse_a_bad_csr_with_nothing_charged(ssl, csr, code, message):
    bad = csr()
    with pytest.raises(CsrError, match=message) as caught:
        renewal_quote(actor=jane(), items=[(oid("s1"), 12)], csrs={oid("s1"): bad})
    assert caught.value.code == code
    # A quote made with a good CSR whose line was swapped for the bad one: paying checks it again.
    quote = renewal_quote(actor=jane(), items=[(oid("s1"), 12)], csrs={oid("s1"): make_csr()})
    line = dataclasses.replace(quote.lines[0], csr=CsrInfo(pem=bad, common_name="", names=()))
    with pytest.raises(CsrError, match=message):
        renewal_pay(actor=jane(), quote=dataclasses.replace(quote, lines=(line,)), on=ON)
    nothing_charged()


def test_a_csr_for_an_order_that_takes_none_is_refused(ssl):
    with pytest.raises(DomainError, match="order o1 does not take a certificate signing request") as caught:
        renewal_quote(actor=jane(), items=[(oid("o1"), 1)], csrs={oid("o1"): make_csr()})
    assert caught.value.code == "csr_not_needed"


def test_a_good_csr_renews_and_reaches_the_reissue_hook(ssl, settings, assert_invariants):
    settings.PROVISIONING_HOOK = "tests.renewals.test_csr.hook_recording_csr"
    pem = make_csr(DOMAIN)
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1), (oid("s1"), 12)], csrs={oid("s1"): pem})
    assert quote.lines[1].csr.common_name == DOMAIN
    invoice = renewal_pay(actor=jane(), quote=quote, on=ON)
    assert invoice.total == Decimal("25.00")
    assert Order.objects.get(ref="s1").expires_on == D(2027, 12, 10)
    kept = RenewalCsr.objects.get()
    assert (kept.order.ref, kept.cycle, kept.pem, kept.common_name) == ("s1", D(2026, 12, 10), pem, DOMAIN)
    event = LifecycleEvent.objects.get()
    assert (event.order.ref, event.transition, event.origin, event.cycle, event.business_date) == (
        "s1",
        Transition.REISSUE,
        EventOrigin.RENEWAL,
        D(2026, 12, 10),
        ON,
    )
    assert provisioning_run() == {"done": 1, "failed": 0}  # what the after-commit task does
    assert HOOKED == [("s1", "reissue", pem)]
    assert LifecycleEvent.objects.get().hook_state == HookState.DONE
    assert_invariants()


def test_a_category_asking_for_a_csr_never_renews_by_itself(ssl, run):
    # Even where the category's own flag would allow auto-renewal.
    Category.objects.filter(ref="ssl").update(auto_renew_supported=True)
    Order.objects.filter(ref="s1").update(auto_renew=True)
    outlook = order_renewal_outlook(actor=jane(), order_id=oid("s1"), on=ON)
    assert outlook.reason == "category_not_supported"
    run(ON)
    assert Order.objects.get(ref="s1").expires_on == D(2026, 12, 10)
    assert Order.objects.get(ref="o1").expires_on == D(2027, 1, 10)  # the hosting order renewed that night


@pytest.mark.django_db
def test_a_card_payment_keeps_the_csr_until_the_charge_settles(portal, stripe_on, assert_invariants):
    from payments.services import card_add
    from renewals.models import RenewalPayment
    from tests.payments.test_cards import GOOD, tokenise

    load_ssl(portal, balance="0.00")
    card_add(actor=jane(), account_id=jane().customer_id, payment_method_id=tokenise(GOOD))
    pem = make_csr(DOMAIN)
    quote = renewal_quote(actor=jane(), items=[(oid("s1"), 12)], csrs={oid("s1"): pem})
    invoice = renewal_pay(actor=jane(), quote=quote, payment="card", on=ON)
    assert invoice.total == Decimal("15.00")
    assert RenewalPayment.objects.get().claim[0]["csr"]["common_name"] == DOMAIN  # carried through the claim
    kept = RenewalCsr.objects.get()
    assert (kept.cycle, kept.pem) == (D(2026, 12, 10), pem)
    assert LifecycleEvent.objects.get().transition == Transition.REISSUE
    assert_invariants()


# --- the admin -----------------------------------------------------------------


def test_an_admin_switches_a_category_to_ask_for_a_csr_audited(db, client, settings):
    from django.urls import reverse

    from audit.models import AuditEvent
    from tests.factories import UserFactory

    settings.ADMIN_OTP_REQUIRED = False  # the second factor has its own tests
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    category = Category.objects.create(ref="ssl", name="SSL", grace_days=7, auto_renew_supported=False)
    url = reverse("admin:catalog_category_change", args=[category.pk])
    assert "asks for a PEM certificate signing request" in client.get(url).content.decode()
    data = {"ref": "ssl", "name": "SSL", "grace_days": "7", "renewal_needs_csr": "on"}
    assert client.post(url, data).status_code == 302
    assert Category.objects.get().renewal_needs_csr
    record = AuditEvent.objects.get()
    assert (record.action, record.before, record.after, record.actor_label) == (
        "category.renewal_needs_csr",
        False,
        True,
        "ops",
    )
    listing = client.get(reverse("admin:catalog_category_changelist"), {"renewal_needs_csr__exact": "1"})
    assert ">ssl</a>" in listing.content.decode()
