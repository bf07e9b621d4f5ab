"""Where a callback may go: the callback_url pattern /openapi.json shows (CALLBACK_URL_PATTERN) is
the rule check_url enforces, so a client that follows the schema is never refused at submit, and
one that does not is always refused (default policy, no CALLBACK_ALLOWED_HOSTS). Each URL is read
by Python `re` (the service) and by jsonschema_rs (JSON Schema's ECMA-262 reading of the pattern)."""

from __future__ import annotations

import asyncio
import ipaddress
import re

import httpx
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.schemas import AsyncOptions
from app.errors import InvalidInput
from app.tasks.callbacks import _METADATA_HOSTS, _REFUSED_NETS, CALLBACK_URL_PATTERN, CallbackPolicy, CallbackSender, Delivery

POLICY = CallbackPolicy()
ECMA = jsonschema_rs.validator_for({"type": "string", "pattern": CALLBACK_URL_PATTERN})
INVALID, REFUSED = "invalid_callback_url", "callback_refused"
FEW = settings(max_examples=150, derandomize=True, database=None, deadline=None,
               suppress_health_check=list(HealthCheck))


def refusal(url: str) -> str | None:
    """The code check_url refuses the URL with, None when it accepts it."""
    try:
        POLICY.check_url(url)
    except InvalidInput as e:
        assert e.status_code == 422
        return e.code
    return None


def assert_agree(url: str) -> str | None:
    """The pattern, read either way, matches exactly when check_url accepts; the refusal's code."""
    code = refusal(url)
    assert (re.fullmatch(CALLBACK_URL_PATTERN, url) is not None) == (code is None), (url, code)
    assert ECMA.is_valid(url) == (code is None), url
    return code


ACCEPTED = [
    "http://example.com", "https://example.com/hook", "http://backend:8000/x", "HTTP://EXAMPLE.COM/",
    "hTTpS://example.com", "http://user:pa%20ss@host/", "http://@host/", "http://u:p@[::1]:9/x",
    "http://h/p?q=1&r=2#frag", "http://h?q", "http://h#f", "http://example.com./x",
    "http://my_backend/", "http://xn--bcher-kva.example/", "http://a-b.c-d/",
    "http://8.8.8.8/x", "http://127.0.0.1:9/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://[::1]/", "http://[::1]:8080/", "http://[2001:db8::1]/", "http://[2001:DB8:0:0:0:0:0:1]/",
    "http://[2001:db8::1.2.3.4]/", "http://[1::]/", "http://[fc00::1]/",
    "http://h/é?ü=1#😀", "http://h/a\\b", "http://h:/", "http://h:0/", "http://h:65535/",
    # next to a refused target, not in it
    "http://169.254.169.254.example/", "http://metadata.example/", "http://metadata-x/", "http://0.example/",
    "http://100.100.100.201/", "http://169.253.255.255/", "http://223.255.255.255/", "http://240.0.0.1/",
    "http://[fe7f::1]/", "http://[fec0::1]/", "http://[fe8::1]/", "http://[ff::1]/", "http://[fd00:ec3::1]/",
    "http://fd00-ec2.example/",
]

NOT_ACCEPTED = [
    # refused targets, in several spellings
    ("http://169.254.169.254/latest", REFUSED), ("http://169.254.0.1/", REFUSED),
    ("http://evil.example@169.254.169.254/", REFUSED), ("http://metadata/", REFUSED),
    ("http://METADATA/", REFUSED), ("http://metadata./", REFUSED), ("http://Metadata.Google.Internal./x", REFUSED),
    ("http://instance-data:80/", REFUSED), ("http://metadata.azure.com/", REFUSED), ("http://x@metadata/", REFUSED),
    ("http://100.100.100.200/", REFUSED), ("http://0.0.0.0/", REFUSED), ("http://0.1.2.3:80/", REFUSED),
    ("http://224.0.0.1/", REFUSED), ("http://239.255.255.255/", REFUSED),
    ("http://[fe80::1]/", REFUSED), ("http://[FE80::1]/", REFUSED), ("http://[febf:0:0:0:0:0:0:1]/", REFUSED),
    ("http://[ff02::1]/", REFUSED), ("http://[FF00::]/", REFUSED), ("http://[::]/", REFUSED),
    ("http://[::ffff:169.254.169.254]/", REFUSED), ("http://[::ffff:a9fe:a9fe]/", REFUSED),
    ("http://[0:0:0:0:0:ffff:a9fe:a9fe]/", REFUSED), ("http://[::169.254.169.254]/", REFUSED),
    ("http://[::ffff:8.8.8.8]/", REFUSED), ("http://[0::1]/", REFUSED), ("http://[0000:0:0:0:0:0:0:1]/", REFUSED),
    ("http://[fd00:ec2::254]/", REFUSED), ("http://[FD00:0EC2::1]/", REFUSED),
    # not URLs this service calls
    ("ftp://example.com/x", INVALID), ("file:///etc/passwd", INVALID), ("javascript:alert(1)", INVALID),
    ("http:///nohost", INVALID), ("http://", INVALID), ("", INVALID), ("example.com", INVALID),
    ("http:/example.com", INVALID), ("httpx://example.com", INVALID),
    ("http://host:abc/", INVALID), ("http://host:abc", INVALID), ("http://host:65536/", INVALID),
    ("http://host:080/", INVALID), ("http://host:-1/", INVALID), ("http://host:80:90/", INVALID),
    ("http://a@b@c", INVALID), ("http://a\\b@c/", INVALID), ("http://[a]@c/", INVALID),
    ("http://[v1.abc]/", INVALID), ("http://[fe80::1%25eth0]/", INVALID), ("http://[FE80::1%25eth0]/", INVALID),
    ("http://[::1/", INVALID), ("http://::1]/", INVALID), ("http://[1.2.3.4]/", INVALID), ("http://[::1]x/", INVALID),
    ("http://[1:2:3:4:5:6:7:8:9]/", INVALID), ("http://[1:2:3:4:5:6::7:8]/", INVALID), ("http://[::1::]/", INVALID),
    ("http://meta\ndata/", INVALID), ("http://meta\tdata/", INVALID), ("http://a/x\r\n", INVALID),
    ("\x00http://a/", INVALID), ("http://a/\x7f", INVALID), ("http://a/\x1b[0m", INVALID), ("http://a/\n", INVALID),
    (" http://a/", INVALID), ("http://a /", INVALID), ("http://a/ b", INVALID), ("http://a/\t", INVALID),
    ("http://bücher.example/", INVALID), ("http://\u2100/", INVALID), ("http://ex\u200bample/", INVALID),
    ("http://h%41/", INVALID), ("http://a..b/", INVALID), ("http://.a/", INVALID), ("http://a../", INVALID),
    (f"http://{'a' * 64}.example/", INVALID),
    # numbers that are no plain dotted IPv4 address: the C resolver reads them, Python does not
    ("http://169.254.01.1/", INVALID), ("http://010.0.0.1/", INVALID), ("http://0251.0376.0251.0376/", INVALID),
    ("http://2852039166/", INVALID), ("http://0xa9fea9fe/", INVALID), ("http://169.254.43518/", INVALID),
    ("http://1.2.3.4./", INVALID), ("http://a.0x7f/", INVALID), ("http://256.1.1.1/", INVALID),
    ("http://1.2.3/", INVALID), ("http://example.123/", INVALID),
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_urls_the_pattern_matches_are_accepted(url):
    assert assert_agree(url) is None


@pytest.mark.parametrize("url,code", NOT_ACCEPTED)
def test_urls_the_pattern_does_not_match_are_refused_with_their_reason(url, code):
    assert assert_agree(url) == code


def test_the_schema_shows_the_pattern_check_url_enforces():
    assert AsyncOptions.model_json_schema()["properties"]["callback_url"]["pattern"] == CALLBACK_URL_PATTERN


def test_an_allow_list_refuses_more_than_the_pattern_the_operators_choice():
    narrowed = CallbackPolicy("backend,10.0.0.0/8")
    with pytest.raises(InvalidInput) as e:
        narrowed.check_url("http://127.0.0.1:9/x")
    assert e.value.code == REFUSED
    assert narrowed.check_url("http://backend:8000/x") and narrowed.check_url("http://10.1.2.3/x")
    with pytest.raises(InvalidInput) as e:
        narrowed.check_url("http://metadata/")  # the default refusals still hold
    assert e.value.code == REFUSED


@FEW
@given(st.from_regex(CALLBACK_URL_PATTERN, fullmatch=True))
def test_what_the_pattern_promises_is_accepted(url):
    assert refusal(url) is None, url
    assert ECMA.is_valid(url), url


def _in(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[int]:
    return st.integers(int(net.network_address), int(net.broadcast_address))


V4_NETS = [n for n in _REFUSED_NETS if n.version == 4]
V6_NETS = [n for n in _REFUSED_NETS if n.version == 6]
LOOPBACK6 = ipaddress.IPv6Address("::1")


@FEW
@given(st.one_of(st.integers(0, 2**32 - 1), *map(_in, V4_NETS), st.sampled_from([
    int(a) + d for n in V4_NETS for a in (n.network_address, n.broadcast_address) for d in (-1, 0, 1)
    if 0 <= int(a) + d < 2**32])))
def test_an_ipv4_literal_is_refused_exactly_in_the_refused_networks(n):
    ip = ipaddress.IPv4Address(n)
    code = assert_agree(f"http://{ip}/x")
    assert code == (REFUSED if any(ip in net for net in V4_NETS) else None), ip


@FEW
@given(st.one_of(st.integers(0, 2**128 - 1), st.integers(0, 2**48 - 1), *map(_in, V6_NETS),
                 _in(ipaddress.ip_network("::ffff:0:0/96")), st.just(1)),
       st.sampled_from(["compressed", "exploded"]), st.booleans())
def test_an_ipv6_literal_is_refused_in_the_refused_networks_and_where_ipv4_hides(n, spell, upper):
    """Refused: the refused networks, and every address whose first group is zero (IPv4-mapped and
    -compatible ones carry an IPv4 address the IPv4 rule would have to read) but `[::1]`."""
    ip = ipaddress.IPv6Address(n)
    text = getattr(ip, spell)
    text = text.upper() if upper else text
    code = assert_agree(f"http://[{text}]:8080/")
    refused = text != "::1" and (any(ip in net for net in V6_NETS) or n >> 112 == 0)
    assert code == (REFUSED if refused else None), text


def _anycase(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda ups: "".join(c.upper() if u else c for c, u in zip(word, ups)))


def _mostly(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A piece right three times in four, so that whole URLs come out accepted, refused and malformed."""
    return st.integers(0, 3).flatmap(lambda k: bad if k == 3 else good)


# URL-ish strings from pieces, right and wrong: refused hosts among good ones, odd ports, stray
# characters; the pattern must say what check_url does with each
_SCHEME = _mostly(st.sampled_from(["http://", "https://", "HTTP://", "hTtPs://"]),
                  st.sampled_from(["ftp://", "http:/", "http:", "", "//", " http://"]))
_USERINFO = _mostly(st.sampled_from(["", "", "a:b@", "@", "%40@"]),
                    st.text(st.sampled_from("ab:%@[]/\\ \t"), max_size=4).map(lambda s: s + "@"))
_HOST = _mostly(
    st.one_of(st.sampled_from(["example.com", "backend", "a_b", "127.0.0.1", "8.8.8.8", "[::1]", "[2001:db8::1]",
                               "xn--x.y", "a.b.c."]),
              st.sampled_from(sorted(_METADATA_HOSTS)).flatmap(_anycase),
              st.sampled_from(["169.254.169.254", "100.100.100.200", "[fe80::1]", "[::ffff:a9fe:a9fe]",
                               "[fd00:ec2::254]", "[::]", "0.0.0.0"])),
    st.one_of(st.sampled_from(["[v1.x]", "", ".", "a..b", "1.2.3", "0x7f.1", "[::1]x", "a b", "m\netadata"]),
              st.tuples(*[st.sampled_from(["0", "1", "01", "169", "254", "255", "256", "0x1", ""])] * 4).map(".".join),
              st.text(st.sampled_from("ab09-_.:[]%é\n "), min_size=1, max_size=8)))
_PORT = _mostly(st.sampled_from(["", "", ":80", ":", ":0", ":65535"]),
                st.sampled_from([":65536", ":080", ":x", ":1:2", ":-1", ": 80"]))
_REST = _mostly(st.one_of(st.sampled_from(["", "/", "/hook?x=1", "#f", "?", "/é"]),
                          st.tuples(st.sampled_from("/?#"), st.text(st.characters(min_codepoint=0x21), max_size=6))
                          .map("".join)),
                st.tuples(st.sampled_from("/?#"), st.text(max_size=6)).map("".join))


@FEW
@given(st.tuples(_SCHEME, _USERINFO, _HOST, _PORT, _REST).map("".join))
def test_url_like_strings_are_accepted_exactly_when_the_pattern_matches(url):
    assert_agree(url)


@pytest.mark.parametrize("url", ["http://xn--zz:9/", "http://XN--abc-def.example:9/"])
def test_a_url_the_http_client_cannot_send_to_is_given_up_at_once_and_settled(url):
    """A host whose xn-- label is no valid IDN: the pattern cannot tell, the HTTP client refuses it,
    and no retry helps; given up, it leaves the outbox instead of coming back after every lease."""
    assert refusal(url) is None
    resolved, posted = [], []

    async def resolve(host, port):  # as a name that resolves would: each attempt reaches the HTTP client
        resolved.append(host)
        return ["192.0.2.1"]

    def receive(request):  # nothing leaves this test: were it sent, it would land here and count
        posted.append(request)
        return httpx.Response(500)

    async def deliver():
        settled = []
        sender = CallbackSender(CallbackPolicy(resolve=resolve), retries=3, backoff=0,
                                transport=httpx.MockTransport(receive))
        await sender.send(Delivery("t", url, b"{}", "d"), settled=lambda: settled.append(True))
        await sender.close()
        return len(resolved), len(posted), settled, sender.failed

    assert asyncio.run(deliver()) == (1, 0, [True], 1)
