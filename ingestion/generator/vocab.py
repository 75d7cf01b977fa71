"""Fixed vocabularies: transaction codes in schema order, names, merchants, descriptions."""

from __future__ import annotations

TX_TYPES: tuple[str, ...] = (
    "deposit", "withdrawal", "p2p_in", "p2p_out", "card_payment", "loan_disbursement", "loan_repayment",
    "investment_buy", "investment_sell", "fee", "interest_charge", "interest_payout",
)
T = {name: code for code, name in enumerate(TX_TYPES)}

STATUSES: tuple[str, ...] = ("booked", "scheduled", "cancelled", "failed")
S = {name: code for code, name in enumerate(STATUSES)}

PRODUCTS: tuple[str, ...] = ("etf_world", "bond_fund", "money_market", "green_equity")

FIRST_NAMES: tuple[str, ...] = (
    "Léa", "Emma", "Chloé", "Manon", "Camille", "Inès", "Sarah", "Julie", "Zoé", "Clara", "Anna", "Sofia",
    "Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Adam", "Nathan", "Thomas", "Paul", "Noah", "Yanis",
    "Mohamed", "Amina", "Fatima", "Karim", "Elena", "Marco", "Giulia", "Lukas", "Mia", "Sven", "Ana", "João",
    "Pedro", "Lucía", "Carmen", "Pieter", "Sanne", "Olivier", "Nathalie", "Isabelle", "Philippe", "Sophie",
)
LAST_NAMES: tuple[str, ...] = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
    "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Rossi", "Müller",
    "Schmidt", "Fernández", "López", "Silva", "Santos", "De Jong", "Janssens", "Peeters", "Benali", "Haddad",
    "Nguyen", "Traoré", "Diallo", "Kowalski", "O'Brien",
)
EMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.fr", "outlook.com", "orange.fr", "free.fr", "proton.me",
                                  "hotmail.com", "laposte.net")
COUNTRIES: tuple[str, ...] = ("FR", "BE", "DE", "ES", "IT", "NL", "PT", "LU")
COUNTRY_WEIGHTS: tuple[float, ...] = (0.70, 0.07, 0.06, 0.05, 0.05, 0.03, 0.03, 0.01)

MERCHANTS: tuple[str, ...] = (
    "Carrefour", "Monoprix", "Lidl", "Auchan", "Franprix", "Fnac", "Decathlon", "Amazon", "SNCF", "RATP",
    "Uber", "Deliveroo", "Netflix", "Spotify", "Zara", "H&M", "IKEA", "Leroy Merlin", "Boulangerie Paul",
    "Pharmacie", "TotalEnergies", "Apple", "Airbnb", "Booking.com", "Cinema UGC", "Picard", "Darty",
    "Sephora", "Starbucks", "McDonald's",
)

# Descriptions: fixed ones first, then one per merchant (card payments pick a merchant code).
DESCRIPTIONS: tuple[str, ...] = (
    "Salary",                        # 0
    "Initial deposit",               # 1
    "Rent - standing order",         # 2
    "ATM withdrawal",                # 3
    "Transfer to savings",           # 4
    "Transfer from current account",  # 5
    "Transfer from savings",         # 6
    "Transfer to current account",   # 7
    "Monthly account fee",           # 8
    "Overdraft interest",            # 9
    "Loan interest",                 # 10
    "Savings interest",              # 11
    "Loan disbursement",             # 12
    "Loan instalment",               # 13
    "Investment purchase",           # 14
    "Investment sale",               # 15
    "Transfer to a friend",          # 16
    "Transfer from a friend",        # 17
    "Standing transfer",             # 18
    "Incoming transfer",             # 19
    *(f"Card payment {m}" for m in MERCHANTS),
)
D = {
    "salary": 0, "initial": 1, "rent": 2, "atm": 3, "to_savings": 4, "from_current": 5, "from_savings": 6,
    "to_current": 7, "fee": 8, "overdraft_interest": 9, "loan_interest": 10, "savings_interest": 11,
    "loan_disbursement": 12, "loan_instalment": 13, "inv_buy": 14, "inv_sell": 15, "p2p_out": 16, "p2p_in": 17,
    "standing_p2p": 18, "transfer_in": 19,
}
MERCHANT_BASE = 20
