"""The FineFinance Slack bot: `/finefin` for customers, advisors and directors, plus scheduled posts.

Layout: `app.py` builds the Bolt App; `listeners/` registers handlers; `assistant.py` turns command text into an
Answer (Slack-free, shared with the console); `blocks.py` / `files.py` render; `scheduled.py` posts for the DAGs.
The bot calls only the SemanticLayer protocol: no SQL here.
"""
