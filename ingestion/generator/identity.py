"""What a customer recognises on a statement: a postal address and the IBAN of each account.

Both are drawn from their own random stream (`identity_rng`), so adding them left every other generated value as it
was. IBANs are French (FR76…): bank code BANK_CODE, a branch drawn from the stream, an 11-digit account number that
is a bijection of account_id (unique whatever the seed or the day that created the account), the RIB key and the
ISO 13616 check digits. The schema's backfill (ingestion/sql/001_operational_schema.sql) uses the same account
number with branch 00000, which the generator never draws.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BANK_CODE = 17569
BRANCH_CODES: tuple[int, ...] = (10011, 10207, 10349, 10426, 10578, 10630, 10795, 10842)
_ACCOUNT_NUMBER_MULTIPLIER = 3_141_592_653  # coprime with 10**11: account_id -> account number is a bijection
_ACCOUNT_NUMBER_OFFSET = 27_182_818_284
_ACCOUNT_NUMBERS = 10**11
_FR_DIGITS = 1527  # "FR" with A=10 ... Z=35, as ISO 13616 moves the country code to the end
_IDENTITY_STREAM = 0x1BA2

# Per country: (street names, number first?, (city, postal code) pairs). Postal codes follow each country's format.
ADDRESS_BOOK: dict[str, tuple[tuple[str, ...], bool, tuple[tuple[str, str], ...]]] = {
    "FR": (("rue de la République", "avenue Victor Hugo", "boulevard Voltaire", "rue des Lilas", "rue Pasteur",
            "place de la Mairie", "chemin des Vignes", "allée des Tilleuls", "rue du Faubourg Saint-Antoine",
            "quai de la Loire"), True,
           (("Paris", "75011"), ("Lyon", "69003"), ("Marseille", "13006"), ("Toulouse", "31000"),
            ("Nantes", "44000"), ("Lille", "59000"), ("Bordeaux", "33000"), ("Strasbourg", "67000"),
            ("Montpellier", "34000"), ("Rennes", "35000"))),
    "BE": (("Rue Neuve", "Avenue Louise", "Meir", "Veldstraat", "Rue de la Loi"), False,
           (("Bruxelles", "1000"), ("Antwerpen", "2000"), ("Gent", "9000"), ("Liège", "4000"))),
    "DE": (("Hauptstraße", "Schillerstraße", "Goethestraße", "Bahnhofstraße", "Lindenallee"), False,
           (("Berlin", "10115"), ("München", "80331"), ("Hamburg", "20095"), ("Köln", "50667"))),
    "ES": (("Calle Mayor", "Gran Vía", "Calle de Alcalá", "Avenida de la Constitución"), False,
           (("Madrid", "28013"), ("Barcelona", "08001"), ("Valencia", "46001"), ("Sevilla", "41001"))),
    "IT": (("Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele II", "Via Dante"), False,
           (("Roma", "00184"), ("Milano", "20121"), ("Torino", "10121"), ("Napoli", "80133"))),
    "NL": (("Kerkstraat", "Prinsengracht", "Dorpsstraat", "Stationsweg"), False,
           (("Amsterdam", "1012 AB"), ("Rotterdam", "3011 AD"), ("Utrecht", "3511 AB"))),
    "PT": (("Rua Augusta", "Avenida da Liberdade", "Rua de Santa Catarina"), False,
           (("Lisboa", "1100-053"), ("Porto", "4000-322"))),
    "LU": (("rue de la Gare", "avenue de la Liberté", "Grand-Rue"), True,
           (("Luxembourg", "L-1611"), ("Esch-sur-Alzette", "L-4011"))),
}


def identity_rng(seed: int | np.integer, *extra: int) -> np.random.Generator:
    """The random stream of addresses and IBAN branches for `seed` (and e.g. a simulated day)."""
    return np.random.default_rng([int(seed), _IDENTITY_STREAM, *extra])


def postal_addresses(rng: np.random.Generator, countries: np.ndarray, vocabulary: tuple[str, ...]
                     ) -> dict[str, pa.Array]:
    """street, postal_code and city columns for customers living in `vocabulary[countries[i]]` (vectorised: one
    flat street list and one flat city list, each country a slice of them)."""
    countries = np.asarray(countries, dtype=np.int64)
    n = len(countries)
    book = [ADDRESS_BOOK[code] for code in vocabulary]
    street_count = np.array([len(names) for names, _, _ in book], np.int64)
    city_count = np.array([len(cities) for _, _, cities in book], np.int64)
    street_at = np.concatenate([[0], np.cumsum(street_count)[:-1]])
    city_at = np.concatenate([[0], np.cumsum(city_count)[:-1]])
    street_names = pa.array([name for names, _, _ in book for name in names], pa.string())
    city_names = pa.array([city for _, _, cities in book for city, _ in cities], pa.string())
    postal_codes = pa.array([code for _, _, cities in book for _, code in cities], pa.string())
    number_first = np.array([first for _, first, _ in book], bool)[countries]

    street_pick = street_at[countries] + rng.integers(0, 1 << 30, n) % street_count[countries]
    city_pick = city_at[countries] + rng.integers(0, 1 << 30, n) % city_count[countries]
    number = pc.cast(pa.array(rng.integers(1, 180, n)), pa.string())
    name = street_names.take(pa.array(street_pick))
    street = pc.if_else(pa.array(number_first), pc.binary_join_element_wise(number, name, " "),
                        pc.binary_join_element_wise(name, number, " "))
    return {"street": street, "postal_code": postal_codes.take(pa.array(city_pick)),
            "city": city_names.take(pa.array(city_pick))}


def account_numbers(account_ids: np.ndarray) -> np.ndarray:
    """The 11-digit account number of each account id (distinct ids give distinct numbers below 10**11)."""
    ids = np.asarray(account_ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= _ACCOUNT_NUMBERS):
        raise ValueError("account ids must be in [0, 10**11)")
    # (id * m + c) mod 10**11 without int64 overflow: split m into 5-digit halves
    high, low = divmod(_ACCOUNT_NUMBER_MULTIPLIER, 100_000)
    part = (ids * high) % (_ACCOUNT_NUMBERS // 100_000) * 100_000
    return (part + ids * low + _ACCOUNT_NUMBER_OFFSET) % _ACCOUNT_NUMBERS


def _mod97(value: np.ndarray, digits: int, acc: np.ndarray) -> np.ndarray:
    """(acc followed by the `digits`-digit `value`) mod 97, all in int64."""
    return (acc * (10**digits % 97) + value) % 97


def ibans(rng: np.random.Generator, account_ids: np.ndarray) -> pa.Array:
    """French IBANs in electronic form (27 characters, no spaces), one per account id."""
    ids = np.asarray(account_ids, dtype=np.int64)
    n = len(ids)
    branch = np.asarray(BRANCH_CODES, dtype=np.int64)[rng.integers(0, len(BRANCH_CODES), n)]
    number = account_numbers(ids)
    rib_key = 97 - (89 * BANK_CODE + 15 * branch + 3 * number) % 97
    acc = np.full(n, BANK_CODE % 97, dtype=np.int64)
    for value, digits in ((branch, 5), (number, 11), (rib_key, 2), (np.full(n, _FR_DIGITS * 100), 6)):
        acc = _mod97(value, digits, acc)
    check = 98 - acc

    def padded(values: np.ndarray, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width, "0")

    return pc.binary_join_element_wise(
        "FR", padded(check, 2), f"{BANK_CODE:05d}", padded(branch, 5), padded(number, 11), padded(rib_key, 2), "")
