"""Short codes end in a letter or digit: SMS apps and URL detection cut a trailing '-' or '_' off a link."""

from __future__ import annotations

import string

from collections import Counter

from mannerly.links.service import CODE_LENGTH, LINK_PATH, LinkBatch, find_urls, new_code, new_codes, split_links

URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_codes_are_url_safe_of_fixed_length_and_end_in_a_letter_or_digit():
    """20,000 codes: with a free last character about 600 of them would end in '-' or '_'."""
    codes = [new_code() for _ in range(20_000)]
    assert all(len(code) == CODE_LENGTH and set(code) <= URL_SAFE for code in codes)
    assert all(code[-1].isascii() and code[-1].isalnum() for code in codes)
    assert len(set(codes)) == len(codes)
    # The other characters still use the whole URL-safe alphabet.
    assert {"-", "_"} <= {character for code in codes for character in code[:-1]}


def test_codes_drawn_in_bulk_follow_the_same_rules_and_spread_evenly():
    """new_codes (what campaign link batches use): same length, alphabet and ending, every character used evenly."""
    codes = new_codes(20_000)
    assert len(codes) == len(set(codes)) == 20_000
    assert all(len(code) == CODE_LENGTH and set(code) <= URL_SAFE for code in codes)
    assert all(code[-1].isascii() and code[-1].isalnum() for code in codes)
    firsts, lasts = Counter(code[0] for code in codes), Counter(code[-1] for code in codes)
    assert set(firsts) == URL_SAFE and len(lasts) == 62
    # 20,000 draws over 64 (or 62) characters: about 313 (323) each; a skewed mapping would show far from it.
    assert 200 < min(firsts.values()) and max(firsts.values()) < 450
    assert 200 < min(lasts.values()) and max(lasts.values()) < 460


def test_split_links_cuts_around_the_urls_and_leaves_short_links_alone():
    text = "Sale www.shop.example/a, old https://go.acme.test/l/abcdefghij and http://x.example/b."
    pieces, urls = split_links(text, skip_prefix="https://go.acme.test/l/")
    assert urls == ("https://www.shop.example/a", "http://x.example/b")
    assert pieces == ("Sale ", ", old https://go.acme.test/l/abcdefghij and ", ".")


def test_a_rewritten_link_is_found_whole_in_the_final_text():
    """Each recipient's link, followed by sentence punctuation, is detected up to its last character."""
    batch = LinkBatch(base_url="https://go.acme.test", workspace_id=1)
    for key in range(500):
        text = batch.rewrite(key, key, "Sale at https://shop.example/sale.")
        code = batch.pending[key][0]["code"]
        assert [url for _start, _end, url in find_urls(text)] == [f"https://go.acme.test{LINK_PATH}{code}"]
