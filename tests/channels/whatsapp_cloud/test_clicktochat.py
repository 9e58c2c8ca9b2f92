"""Click-to-chat (C9): the wa.me link, QR codes that carry it, and the escaped website snippet."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ElementTree
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
import segno

from mannerly.channels.whatsapp_cloud.clicktochat import (
    ClickToChatError,
    click_to_chat_url,
    qr_png,
    qr_svg,
    snippet_html,
    snippet_label,
)
from mannerly.models import Channel
from tests.api.conftest import make_workspace

from .conftest import add_whatsapp_channel

LINK_CASES = [
    ("821023456789", None, "https://wa.me/821023456789"),
    ("821023456789", "", "https://wa.me/821023456789"),
    ("6281234567890", "Halo, saya mau pesan", "https://wa.me/6281234567890?text=Halo%2C%20saya%20mau%20pesan"),
    ("306912345678", "Καλημέρα", "https://wa.me/306912345678?text=%CE%9A%CE%B1%CE%BB%CE%B7%CE%BC%CE%AD%CF%81%CE%B1"),
    ("15557654321", "a&b=c#d?e/f+g", "https://wa.me/15557654321?text=a%26b%3Dc%23d%3Fe%2Ff%2Bg"),
]


@pytest.mark.parametrize(("phone", "text", "url"), LINK_CASES)
def test_links(phone, text, url):
    """Digits after wa.me/, the text fully percent-encoded so it cannot break the query."""
    assert click_to_chat_url(phone, text) == url
    if text:
        assert parse_qs(urlsplit(url).query)["text"] == [text]


@pytest.mark.parametrize(("phone", "text"), [("+821023456789", None), ("0102345678", None), ("12345", None),
                                             ("821023456789", "x" * 1001)])
def test_unusable_links(phone, text):
    """A leading + or 0, too few digits, or a huge text cannot make a link."""
    with pytest.raises(ClickToChatError):
        click_to_chat_url(phone, text)


def png_pixels(data: bytes) -> list[list[int]]:
    """Decode a greyscale PNG (bit depth 1 or 8) to rows of 0 (black) / 1 (white), with the stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        payload = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + payload
        position += 12 + length
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert color_type == 0 and depth in (1, 8), (color_type, depth)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = (width * depth + 7) // 8
    rows, previous = [], bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, current = line[0], bytearray(line[1:])
        for x in range(stride):
            left = current[x - 1] if x else 0
            up, up_left = previous[x], previous[x - 1] if x else 0
            if kind == 1:
                current[x] = (current[x] + left) & 0xFF
            elif kind == 2:
                current[x] = (current[x] + up) & 0xFF
            elif kind == 3:
                current[x] = (current[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - up_left
                nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - up_left), 2, up_left))
                current[x] = (current[x] + nearest[2]) & 0xFF
        if depth == 1:
            rows.append([(current[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        else:
            rows.append([1 if current[x] > 127 else 0 for x in range(width)])
        previous = current
    return rows


def modules_from_png(data: bytes, scale: int, border: int = 4) -> list[list[int]]:
    """The QR module matrix read from the PNG's pixels (1 = dark), sampling each module's centre."""
    pixels = png_pixels(data)
    size = len(pixels) // scale - 2 * border
    return [[1 - pixels[(border + row) * scale + scale // 2][(border + column) * scale + scale // 2]
             for column in range(size)] for row in range(size)]


@pytest.mark.parametrize("scale", [1, 5])
def test_png_holds_the_qr_code_of_the_link(scale):
    """The PNG is valid (signature, CRCs, zlib) and its modules are exactly the QR code of the link."""
    url = click_to_chat_url("821023456789", "주문 문의드립니다")
    expected = [list(row) for row in segno.make(url, error="m", micro=False).matrix]
    assert modules_from_png(qr_png(url, scale), scale) == expected
    other = [list(row) for row in segno.make(url + "x", error="m", micro=False).matrix]
    assert modules_from_png(qr_png(url, scale), scale) != other


def test_svg_is_a_valid_document_of_the_same_code():
    """The SVG parses as XML with an escaped title, and is exactly segno's rendering of the same link."""
    url = click_to_chat_url("306912345678", "Γεια σας")
    svg = qr_svg(url, 4, title="Tom & Jerry's <shop> on WhatsApp")
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}title").text == "Tom & Jerry's <shop> on WhatsApp"
    size = segno.make(url, error="m", micro=False).symbol_size(scale=4, border=4)
    assert (int(root.get("width")), int(root.get("height"))) == size
    assert svg == qr_svg(url, 4, title="Tom & Jerry's <shop> on WhatsApp")
    assert svg != qr_svg(url + "x", 4, title="Tom & Jerry's <shop> on WhatsApp")


SNIPPET_CASES = [
    ("https://wa.me/1555?text=a%26b", "Message us", None,
     '<a href="https://wa.me/1555?text=a%26b" target="_blank" rel="noopener noreferrer" style='),
    ('https://wa.me/1555?x="><script>', "<b>Hi</b>", 'Tom & "Jerry"',
     'href="https://wa.me/1555?x=&quot;&gt;&lt;script&gt;"'),
]


@pytest.mark.parametrize(("url", "label", "business", "expected_start"), SNIPPET_CASES)
def test_snippet_escapes_everything(url, label, business, expected_start):
    """The link, the label and the business name are HTML-escaped; nothing can open a tag."""
    html = snippet_html(url, label, business)
    assert expected_start in html
    assert "<script>" not in html and "<b>" not in html
    assert html.count("<a ") == 1 and html.endswith("</a>")
    if business:
        assert 'title="Tom &amp; &quot;Jerry&quot; on WhatsApp"' in html


@pytest.mark.parametrize(("language", "label"), [("ko", "WhatsApp으로 메시지 보내기"), ("id", "Kirim pesan lewat WhatsApp"),
                                                 ("el", "Στείλτε μας μήνυμα στο WhatsApp"), ("en-GB", "Message us on WhatsApp"),
                                                 ("fr", "Message us on WhatsApp"), (None, "Message us on WhatsApp")])
def test_snippet_labels(language, label):
    """Korean, Indonesian and Greek wording; English otherwise."""
    assert snippet_label(language) == label


# -- through the API -----------------------------------------------------------------------------


def test_click_to_chat_endpoints(api, fake_graph):
    """Link JSON, PNG and SVG carrying the same link, and the snippet; secrets never in any answer."""
    channel_id = add_whatsapp_channel(api, fake_graph, display_phone_number="+1 555-765-4321")
    text = "Hi Acme, I have a question about order #1234 & delivery"
    response = api.get(f"/v1/channels/{channel_id}/whatsapp/click-to-chat", params={"text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    url = click_to_chat_url("15557654321", text)
    assert (body["url"], body["phone"], body["text"]) == (url, "15557654321", text)
    png = api.client.get(body["qr_png"], headers={"Authorization": f"Bearer {api.key}"})
    assert png.headers["content-type"] == "image/png"
    expected = [list(row) for row in segno.make(url, error="m", micro=False).matrix]
    assert modules_from_png(png.content, 8) == expected
    svg = api.get(f"/v1/channels/{channel_id}/whatsapp/click-to-chat.svg", params={"text": text, "scale": 3})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content == qr_svg(url, 3, title="Acme Store on WhatsApp")
    snippet = api.get(f"/v1/channels/{channel_id}/whatsapp/snippet", params={"text": text, "language": "ko"}).json()
    assert snippet["url"] == url and snippet["label"] == "WhatsApp으로 메시지 보내기"
    assert snippet["html"] == snippet_html(url, "WhatsApp으로 메시지 보내기", "Acme Store")
    everything = response.text + svg.text + str(snippet)
    assert fake_graph.access_token not in everything and fake_graph.app_secret not in everything


def test_click_to_chat_without_text(api, fake_graph, whatsapp_channel):
    """No text: the bare link, and QR links without a query."""
    body = api.get(f"/v1/channels/{whatsapp_channel}/whatsapp/click-to-chat").json()
    assert body["url"] == "https://wa.me/15557654321"
    assert body["qr_png"] == f"/v1/channels/{whatsapp_channel}/whatsapp/click-to-chat.png"


def test_click_to_chat_refusals(api, fake_graph, whatsapp_channel):
    """Other workspaces' and non-WhatsApp channels are 404; no number is 409; bad input is 422; no key is 401."""
    runtime = api.runtime
    other_id, other_key = make_workspace(runtime, "Other")
    with runtime.session() as session:
        sms = session.query(Channel).filter(Channel.workspace_id == api.workspace_id,
                                            Channel.provider == "simulator").one().id
    foreign = api.client.get(f"/v1/channels/{whatsapp_channel}/whatsapp/click-to-chat",
                             headers={"Authorization": f"Bearer {other_key}"})
    assert foreign.status_code == 404
    for suffix in ("click-to-chat", "click-to-chat.png", "click-to-chat.svg", "snippet"):
        assert api.get(f"/v1/channels/{sms}/whatsapp/{suffix}").status_code == 404, suffix
        assert api.get(f"/v1/channels/999999/whatsapp/{suffix}").status_code == 404, suffix
        assert api.client.get(f"/v1/channels/{whatsapp_channel}/whatsapp/{suffix}").status_code == 401, suffix
    no_number = add_whatsapp_channel(api, fake_graph, display_phone_number="")
    assert api.get(f"/v1/channels/{no_number}/whatsapp/click-to-chat").status_code == 409
    assert api.get(f"/v1/channels/{whatsapp_channel}/whatsapp/click-to-chat.png",
                   params={"scale": 0}).status_code == 422
    assert api.get(f"/v1/channels/{whatsapp_channel}/whatsapp/click-to-chat",
                   params={"text": "x" * 1001}).status_code == 422
