"""Short codes end in a letter or digit: SMS apps and URL detection cut a trailing '-' or '_' off a link."""

from __future__ import annotations

import string

from mannerly.links.service import CODE_LENGTH, LINK_PATH, LinkBatch, find_urls, new_code

URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_codes_are_url_safe_of_fixed_length_and_end_in_a_letter_or_digit():
    """20,000 codes: with a free last character about 600 of them would end in '-' or '_'."""
    codes = [new_code() for _ in range(20_000)]
    assert all(len(code) == CODE_LENGTH and set(code) <= URL_SAFE for code in codes)
    assert all(code[-1].isascii() and code[-1].isalnum() for code in codes)
    assert len(set(codes)) == len(codes)
    # The other characters still use the whole URL-safe alphabet.
    assert {"-", "_"} <= {character for code in codes for character in code[:-1]}


def test_a_rewritten_link_is_found_whole_in_the_final_text():
    """Each recipient's link, followed by sentence punctuation, is detected up to its last character."""
    batch = LinkBatch(base_url="https://go.acme.test", workspace_id=1)
    for key in range(500):
        text = batch.rewrite(key, key, "Sale at https://shop.example/sale.")
        code = batch.pending[key][0]["code"]
        assert [url for _start, _end, url in find_urls(text)] == [f"https://go.acme.test{LINK_PATH}{code}"]
