"""The note grammar: every text rule the product uses to read notes and questions, defined once.

- `notes`: how notes are written: list markers and checkboxes, item labels (`ACTION 12.3:`, `AI-4`,
  `**7.2**`), field labels (`Owner:`, `Due:`), the words of section headings, commitment verbs,
  team words and words that are never names.
- `questions`: how questions are asked: stop words and question scaffolding, typo and acronym
  matching.

Parse, extract, attendance, boilerplate, search, the relevance judge and the cache import these
tables; none defines its own (tests/test_note_grammar.py and tests/test_grammar_questions.py walk
them through every reader).
"""
