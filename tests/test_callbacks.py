"""Where a callback may go: the rule is code (app.tasks.callbacks: `_target` reads a URL with
urlsplit and ipaddress, CallbackPolicy applies the policy), the same at submit and at each
delivery; /openapi.json documents callback_url as `format: uri` with a sentence saying it. Each
URL here is accepted, or refused with its reason (default policy, no CALLBACK_ALLOWED_HOSTS), as
the generated regular expression that documented the rule before did; and for each accepted one,
the host and port the rule checks are the ones the HTTP client sends to."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.schemas import AsyncOptions
from app.errors import InvalidInput
from app.tasks.callbacks import _METADATA_HOSTS, _REFUSED_NETS, CallbackPolicy, CallbackSender, Delivery
from tests.support import callback_urls

POLICY = CallbackPolicy()
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


def checked_where_sent(url: str) -> str | None:
    """The refusal's code; for an accepted URL, the host the rule checked (and check_at_delivery
    resolves) is the one httpx sends to, and so is the port (the scheme's when none or 0 is given)."""
    code = refusal(url)
    if code is None:
        target, sent = POLICY.target(url), httpx.URL(url)
        host = sent.raw_host.decode("ascii").lower().removesuffix(".")
        assert (host, sent.port or {"http": 80, "https": 443}[sent.scheme]) == (target.host, target.port), url
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
    # edge cases: bracketed IPv6 literals, userinfo, ports, whitespace that is no ASCII space or control
    "http://[::1]:/", "http://[::1]:0/", "http://[2001:db8::1]:65535/x", "http://u:p@[2001:db8::1]:443/x",
    "https://[FC00::ABCD]/", "HTTPS://[2001:DB8::1]:443/", "http://[2001:db8::1]:/", "http://u%20p@[::1]/",
    "http://user:pass@h:1/", "http://u:p:q@h/", "http://%40@h/", "http://a!$&'()*+,;=:~@h/", "https://h:0/",
    "http://x.metadata/", "http://a/\u00a0", "http://a/\u2028", "http://a/\u3000",
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
    # edge cases: bracketed IPv6 literals
    ("http://[::1]:080/", INVALID), ("http://[::1]:65536/", INVALID), ("http://[fe80::1%eth0]/", INVALID),
    ("http://[::1%25lo]/", INVALID), ("http://[::1]]/", INVALID), ("http://[[::1]/", INVALID),
    ("http://[::1][::2]/", INVALID), ("http://[]/", INVALID), ("http://[:]/", INVALID), ("http://[::1] /", INVALID),
    ("http://[::0.0.0.1]/", REFUSED), ("http://[::ffff:127.0.0.1]/", REFUSED), ("http://[::ffff:10.0.0.1]/", REFUSED),
    ("http://[::]:80/", REFUSED), ("http://[fe80::1]:8080/", REFUSED), ("http://[0:0:0:0:0:0:0:1]/", REFUSED),
    # userinfo
    ("http://é@h/", INVALID), ("http://a b@h/", INVALID), ("http://u@p@[::1]/", INVALID), ("http://u@[::1]@h/", INVALID),
    ("http://user@169.254.169.254/", REFUSED),
    # no host
    ("http://u@/", INVALID), ("http://u@:80/", INVALID), ("http://:80/", INVALID), ("http://?x", INVALID),
    ("http://#x", INVALID), ("https://", INVALID), ("http:///", INVALID), ("//h/", INVALID),
    # schemes other than http(s)
    ("ws://h/", INVALID), ("https+unix://h/", INVALID), ("hxxp://h/", INVALID), ("http:\\\\h/", INVALID),
    ("https:h", INVALID),
    # ports that are no number 0-65535 written plain
    ("http://h:99999/", INVALID), ("http://h:+1/", INVALID), ("http://h:\uff18\uff10/", INVALID),
    ("http://h:\u0663/", INVALID),
    # whitespace
    ("http://h\u00a0/", INVALID), ("http://a/ ", INVALID), ("http://a/\f", INVALID), ("http://a/\v", INVALID),
    ("\thttp://a/", INVALID),
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_urls_the_rule_accepts(url):
    assert checked_where_sent(url) is None


@pytest.mark.parametrize("url,code", NOT_ACCEPTED)
def test_urls_the_rule_refuses_with_their_reason(url, code):
    assert checked_where_sent(url) == code


def test_the_schema_says_uri_and_the_rule_in_a_sentence():
    prop = AsyncOptions.model_json_schema()["properties"]["callback_url"]
    assert prop["format"] == "uri" and "pattern" not in prop
    assert "http or https" in prop["description"] and "(API.md, Callback)" in prop["description"]


def test_an_allow_list_refuses_more_than_the_rule_the_operators_choice():
    narrowed = CallbackPolicy("backend,10.0.0.0/8")
    with pytest.raises(InvalidInput) as e:
        narrowed.check_url("http://127.0.0.1:9/x")
    assert e.value.code == REFUSED
    assert narrowed.check_url("http://backend:8000/x") and narrowed.check_url("http://10.1.2.3/x")
    with pytest.raises(InvalidInput) as e:
        narrowed.check_url("http://metadata/")  # the default refusals still hold
    assert e.value.code == REFUSED


@pytest.mark.parametrize("url,resolved", [
    ("http://u:p@[2001:db8::1]:8080/x", ("2001:db8::1", 8080)), ("http://Example.COM./x", ("example.com", 80)),
    ("HTTPS://h:/", ("h", 443)), ("https://h:0/", ("h", 443)), ("http://8.8.8.8:9/", ("8.8.8.8", 9))])
def test_a_delivery_resolves_the_host_and_port_the_rule_read(url, resolved):
    asked = []

    async def resolve(host, port):
        asked.append((host, port))
        return ["192.0.2.1"]

    asyncio.run(CallbackPolicy(resolve=resolve).check_at_delivery(url))
    assert asked == [resolved]


@pytest.mark.parametrize("url", ["http://metadata/", "ftp://h/", "http://h:080/"])
def test_a_delivery_refuses_what_submit_refuses(url):
    async def resolve(host, port):
        raise AssertionError("resolved a URL the rule refuses")

    with pytest.raises(InvalidInput) as e:
        asyncio.run(CallbackPolicy(resolve=resolve).check_at_delivery(url))
    assert e.value.code == refusal(url)


@FEW
@given(callback_urls())
def test_what_the_fuzz_test_is_told_a_uri_looks_like_is_accepted(url):
    assert checked_where_sent(url) is None, url


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
    code = checked_where_sent(f"http://{ip}/x")
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
    code = checked_where_sent(f"http://[{text}]:8080/")
    refused = text != "::1" and (any(ip in net for net in V6_NETS) or n >> 112 == 0)
    assert code == (REFUSED if refused else None), text


def _anycase(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda ups: "".join(c.upper() if u else c for c, u in zip(word, ups)))


def _mostly(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A piece right three times in four, so that whole URLs come out accepted, refused and malformed."""
    return st.integers(0, 3).flatmap(lambda k: bad if k == 3 else good)


# URL-ish strings from pieces, right and wrong: refused hosts among good ones, odd ports, stray
# characters; check_url refuses each with its reason or accepts it, and then sends where it checked
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
def test_url_like_strings_are_refused_with_a_reason_or_sent_where_checked(url):
    assert checked_where_sent(url) in (None, INVALID, REFUSED)


@pytest.mark.parametrize("url", ["http://xn--zz:9/", "http://XN--abc-def.example:9/"])
def test_a_url_the_http_client_cannot_send_to_is_given_up_at_once_and_settled(url):
    """A host whose xn-- label is no valid IDN: the rule does not tell, the HTTP client refuses it,
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
