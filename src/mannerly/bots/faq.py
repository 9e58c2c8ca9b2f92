"""FAQ answers (S6): match a customer's question to a workspace's question/answer pairs, offline.

Matching is character n-gram TF-IDF with cosine similarity. Character n-grams need no
tokenizer or dictionary, so Korean (no spaces inside words, particles glued on) works
like English; a small normalization step folds case and accents, drops question
filler ("what", "please", "알려주세요"), strips common Korean endings and English
suffixes, and maps a few synonyms to one word ("delivery" → "shipping"). No model
is downloaded; the index is built from the workspace's entries on each call (a few
hundred entries take milliseconds).

`FaqMatcher` and `normalize_question` are pure; `find_answer` reads the entries.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.errors import invalid
from mannerly.models import FaqEntry
from mannerly.policy.keywords import fold_text

DEFAULT_THRESHOLD = 0.6
NGRAM_SIZES = (2, 3, 4)

# Words that carry no topic in a question (folded).
STOP_WORDS: frozenset[str] = frozenset("""
a an the is are am was were be do does did can could would will shall should may might i me my we you your
yours our us it its to of for in on at by with and or but how what when where which who why whats hi hello
hey please pls plz thanks thank there this that these those have has had get got any some about tell know
want like need just im id ive dont ok okay today tomorrow monday tuesday wednesday thursday friday saturday sunday
apa apakah bagaimana kapan dimana di mana berapa saya aku kami anda kamu yang dan ini itu ke dari untuk
dengan ada bisa tolong mohon halo hai min kak ya nya
τι πως ποτε που ποιο ποια ποιος ειναι το τα η ο οι του της των σε με και για θα να μου σας μας εχετε
μπορω μπορειτε γεια παρακαλω
뭐 뭔가요 어떻게 언제 어디 어디서 어디에 무엇 무슨 제 저 저희 혹시 좀 안녕하세요 알려주세요 알려 주세요
궁금합니다 궁금해요 싶어 싶어요 오늘 내일 월요일 화요일 수요일 목요일 금요일 토요일 일요일 문의 문의드립니다 되나요 돼요 하나요 인가요 있나요 있어요 해주세요 부탁드립니다
""".split())

# A few words people use for the same thing (folded, after suffix stripping).
SYNONYMS: dict[str, str] = {
    "delivery": "shipping", "deliver": "shipping", "ship": "shipping", "shipment": "shipping", "post": "shipping",
    "postage": "shipping", "courier": "shipping",
    "cost": "price", "fee": "price", "charge": "price", "much": "price", "pay": "price", "prices": "price",
    "open": "hours", "opening": "hours", "close": "hours", "closing": "hours", "hour": "hours", "time": "hours",
    "refund": "return", "money": "return", "exchange": "return", "send back": "return",
    "location": "address", "located": "address", "find": "address", "store": "shop", "branch": "shop",
    "택배": "배송", "배달": "배송", "비용": "가격", "요금": "가격", "얼마": "가격", "반품": "환불", "교환": "환불",
    "영업": "영업시간", "문": "영업시간", "몇시": "영업시간", "열어": "영업시간", "위치": "주소", "매장": "지점",
    "pengiriman": "kirim", "ongkir": "ongkos kirim", "biaya": "harga", "jam buka": "jam", "buka": "jam",
    "αποστολη": "αποστολη", "μεταφορικα": "αποστολη", "κοστος": "τιμη", "ωραριο": "ωρες",
}

# Korean word parts replaced wherever they occur, since compounds carry no spaces ("택배비" = "배송비").
KOREAN_PARTS: dict[str, str] = {"택배": "배송", "배달": "배송", "비용": "가격", "요금": "가격"}

# Korean endings and particles stripped from the end of a word (longest first).
KOREAN_ENDINGS: tuple[str, ...] = tuple(sorted("""
하고싶어요 하고싶습니다 하고 하려면 하는데 하면 해서 싶어요 싶습니다
입니까 인가요 인지요 나요 까요 어요 아요 에요 예요 해요 세요 네요 는지 은지 습니다 니다 이요
에서 으로 로 은 는 이 가 을 를 에 의 도 만 요
""".split(), key=len, reverse=True))

# English endings, and Indonesian "-nya" ("ongkirnya" = "the shipping cost").
_ENGLISH_SUFFIXES = ("nya", "ing", "ed", "es", "s")
_CANONICAL = frozenset(SYNONYMS.values())


@dataclass(frozen=True)
class FaqMatch:
    """The best entry for a question and how sure the match is (cosine similarity 0–1)."""

    entry_id: int
    score: float


def _strip_korean(word: str) -> str:
    """A Korean word without its trailing particle or ending (kept when too little would be left)."""
    for _ in range(2):
        for ending in KOREAN_ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 2:
                word = word[: -len(ending)]
                break
        else:
            break
    return word


def _stem(word: str) -> str:
    """A crude stem for Latin-script words: drop -nya, -ing, -ed, -es, -s from longer words."""
    if not word.isascii():
        return word
    for suffix in _ENGLISH_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def normalize_question(text: str) -> list[str]:
    """The content words of a question: folded, filler dropped, endings stripped, synonyms merged."""
    folded = fold_text(text)
    words: list[str] = []
    for word in folded.split():
        if word in STOP_WORDS:
            continue
        if any("\uac00" <= char <= "\ud7a3" for char in word):
            word = _strip_korean(word)
            if word in STOP_WORDS:
                continue
            for part, replacement in KOREAN_PARTS.items():
                word = word.replace(part, replacement)
        if word in SYNONYMS:
            word = SYNONYMS[word]
        elif word not in _CANONICAL:
            stemmed = _stem(word)
            word = SYNONYMS.get(stemmed, stemmed)
        if word and word not in STOP_WORDS:
            words.append(word)
    return words


def _features(words: list[str]) -> Counter[str]:
    """Character n-grams of each word (with boundary marks) plus the whole words."""
    grams: Counter[str] = Counter()
    for word in words:
        grams[f"w:{word}"] += 1
        padded = f" {word} "
        for size in NGRAM_SIZES:
            for start in range(len(padded) - size + 1):
                grams[padded[start:start + size]] += 1
    return grams


class FaqMatcher:
    """A TF-IDF index over FAQ questions; each line of a question is one phrasing."""

    def __init__(self, questions: list[tuple[int, str]]) -> None:
        """Index (entry id, question text) pairs."""
        phrasings = [(entry_id, line) for entry_id, text in questions for line in text.splitlines() if line.strip()]
        documents = [(entry_id, _features(normalize_question(line))) for entry_id, line in phrasings]
        documents = [(entry_id, grams) for entry_id, grams in documents if grams]
        frequency: Counter[str] = Counter()
        for _, grams in documents:
            frequency.update(grams.keys())
        count = len(documents)
        # Smoothed IDF: stays positive with a handful of entries, where plain IDF would vanish.
        self._idf = {gram: math.log((1 + count) / (1 + seen)) + 1 for gram, seen in frequency.items()}
        self._default_idf = math.log(1 + count) + 1
        self._vectors = [(entry_id, self._weigh(grams)) for entry_id, grams in documents]

    def _weigh(self, grams: Counter[str]) -> dict[str, float]:
        """The unit-length TF-IDF vector of some n-gram counts."""
        weights = {gram: (1 + math.log(n)) * self._idf.get(gram, self._default_idf) for gram, n in grams.items()}
        norm = math.sqrt(sum(value * value for value in weights.values())) or 1.0
        return {gram: value / norm for gram, value in weights.items()}

    def best(self, text: str) -> FaqMatch | None:
        """The most similar entry and its score, or None when nothing shares a feature."""
        grams = _features(normalize_question(text))
        if not grams:
            return None
        query = self._weigh(grams)
        best: FaqMatch | None = None
        for entry_id, vector in self._vectors:
            score = sum(weight * vector.get(gram, 0.0) for gram, weight in query.items())
            if best is None or score > best.score:
                best = FaqMatch(entry_id, round(score, 4))
        return best if best and best.score > 0 else None


def find_answer(session: Session, workspace_id: int, text: str,
                threshold: float = DEFAULT_THRESHOLD) -> tuple[FaqEntry, float] | None:
    """The enabled FAQ entry answering `text` with a score at or above the threshold, if any."""
    entries = session.scalars(select(FaqEntry).where(FaqEntry.workspace_id == workspace_id,
                                                     FaqEntry.enabled.is_(True))).all()
    if not entries:
        return None
    match = FaqMatcher([(entry.id, entry.question) for entry in entries]).best(text)
    if match is None or match.score < threshold:
        return None
    entry = next(entry for entry in entries if entry.id == match.entry_id)
    return entry, match.score


def add_faq_entry(session: Session, workspace_id: int, *, question: str, answer: str, language: str = "en",
                  enabled: bool = True, now: datetime) -> FaqEntry:
    """A new FAQ entry; the question must have words the matcher can use."""
    if not normalize_question(question):
        raise invalid("question", "the question has no words to match on (only greetings or filler)")
    if not answer.strip():
        raise invalid("answer", "an FAQ entry needs an answer")
    entry = FaqEntry(workspace_id=workspace_id, question=question.strip(), answer=answer.strip(),
                     language=language, enabled=enabled, created_at=now)
    session.add(entry)
    session.flush()
    return entry


def list_faq(session: Session, workspace_id: int) -> list[FaqEntry]:
    """The workspace's FAQ entries in the order they were added."""
    return list(session.scalars(select(FaqEntry).where(FaqEntry.workspace_id == workspace_id).order_by(FaqEntry.id)))
