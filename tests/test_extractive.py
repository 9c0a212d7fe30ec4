"""The offline answerer's composition on hand-made passages (fast tier): lead-ins bring their code, pronoun-led
sentences bring the sentence they refer to, and "which lesson covers X?" names the lesson and section."""
from __future__ import annotations

import pytest

from app.engine.extractive import asked_type, extractive_answer
from core.settings import Settings
from core.types import Chunk, RetrievedChunk

SETTINGS = Settings()


def _hit(text: str, section: str = "Trees > Boosting", score: float = 0.7, title: str = "Trees") -> RetrievedChunk:
    chunk = Chunk(Chunk.make_id("trees.md", section, None, text), text, "trees.md", title, section, "boosting", None, 0, "sha")
    return RetrievedChunk(chunk, score=score)


INSTALL = (
    "The package works with Python 3.10 and later.\n\n"
    "To install the package, run this command:\n\n"
    "```bash\npip install tree-tools\n```\n\n"
    "After that, import it in your notebook."
)


def test_a_lead_in_brings_the_code_block_that_follows_it():
    answer = extractive_answer("How do I install the package?", [_hit(INSTALL)], {}, SETTINGS)
    assert answer.answer.startswith("To install the package, run this command: [1]"), answer.answer
    assert "```bash\npip install tree-tools\n```\n[1]" in answer.answer


def test_a_long_code_block_is_cut_to_a_bounded_size():
    code = "\n".join(f"step_{i}()" for i in range(60))
    passage = f"To train every tree, run the following code:\n\n```python\n{code}\n```\n"
    answer = extractive_answer("How do I train every tree?", [_hit(passage)], {}, SETTINGS)
    assert "step_0()" in answer.answer and "step_24()" in answer.answer
    assert "step_25()" not in answer.answer and "...\n```" in answer.answer


def test_a_pronoun_led_sentence_brings_the_one_before_it():
    passage = (
        "Gradient boosting builds shallow trees one after another. "
        "It corrects the errors of the earlier trees, which makes boosting accurate on tabular data."
    )
    answer = extractive_answer("Why is boosting accurate on tabular data?", [_hit(passage)], {}, SETTINGS)
    assert answer.answer == (
        "Gradient boosting builds shallow trees one after another. [1] "
        "It corrects the errors of the earlier trees, which makes boosting accurate on tabular data. [1]"
    )


def test_which_lesson_covers_names_the_lesson_and_section():
    passage = "Gradient boosting builds shallow trees one after another, each fixing the errors of the last."
    other = _hit("Random forests average many deep trees.", section="Trees > Forests", score=0.5)
    answer = extractive_answer("Which lesson covers gradient boosting?", [_hit(passage), other], {}, SETTINGS)
    assert answer.answer.startswith("The lesson \u201cTrees\u201d covers this, in the section \u201cBoosting\u201d. [1]")
    assert answer.citations[0].section == "Trees > Boosting"


def test_a_passage_of_only_furniture_is_not_quoted_but_located():
    furniture = "[![Boosting video](https://img.youtube.com/vi/x/0.jpg)](https://youtu.be/x)\n\n> \U0001F3A5 Click the image above for a video."
    answer = extractive_answer("Is there a video on boosting?", [_hit(furniture, section="Trees > Video")], {}, SETTINGS)
    assert answer.answer == "The lesson \u201cTrees\u201d covers this, in the section \u201cVideo\u201d. [1]"


@pytest.mark.parametrize(
    "question, plain, typed",
    [
        ("How many answers does the customer survey dataset hold?",
         "The customer survey dataset holds answers grouped by city.", "The customer survey dataset holds 4,200 answers."),
        ("What score does the tuned model reach?",
         "The tuned model reaches a good score.", "The tuned model reaches a score of 0.97."),
        ("When was the first version released?",
         "The first version was released after a long beta.", "The first version was released in 2019."),
        ("Who wrote the first version?",
         "The first version was written by a small team.", "The first version was written by Grace Hopper."),
        ("Which function loads the data?",
         "A helper function loads the data.", "The `load_data` function loads the data."),
    ],
    ids=["how-many", "what-score", "when", "who", "which-function"],
)
def test_a_sentence_holding_the_asked_for_kind_of_answer_wins_a_tie(question, plain, typed):
    one = Settings(max_answer_sentences=1)
    # The plain sentence comes first, so it wins a tie on words and meaning; only the answer type can change that.
    answer = extractive_answer(question, [_hit(f"{plain} {typed}")], {}, one)
    assert answer.answer == f"{typed} [1]"
    assert asked_type(question) is not None


def test_the_best_sentence_brings_the_next_one_when_it_goes_on_about_it():
    passage = (
        "Point-in-time correctness is the guarantee that each training example only uses values known at the time. "
        "It prevents a subtle kind of data leakage.\n\nConsider a churn model with a cancelled customer."
    )
    answer = extractive_answer("What is point-in-time correctness?", [_hit(passage)], {}, SETTINGS)
    assert answer.answer == (
        "Point-in-time correctness is the guarantee that each training example only uses values known at the time. [1] "
        "It prevents a subtle kind of data leakage. [1]"
    )


def test_sentence_vectors_are_encoded_once_per_chunk_in_one_batch_with_the_question():
    from app.engine.meaning import SentenceMeaning
    from tests.fake_embedder import HashingEmbedder

    class Counting(HashingEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[list[str]] = []

        def encode(self, texts, *, batch_size=32, progress=False):
            self.batches.append(list(texts))
            return super().encode(texts, batch_size=batch_size, progress=progress)

    embedder = Counting()
    meaning = SentenceMeaning(embedder, {})
    passages = [("a", ["Trees split data.", "Forests average trees."]), ("b", ["Boosting fixes errors."])]
    first = meaning.similarities("How do forests work?", passages)
    again = meaning.similarities("How does boosting work?", passages)
    assert embedder.batches == [
        ["How do forests work?", "Trees split data.", "Forests average trees.", "Boosting fixes errors."],
        ["How does boosting work?"],
    ]
    assert [len(x) for x in first] == [len(x) for x in again] == [2, 1]
    assert first[0][1] > first[0][0]  # "Forests average trees." is the closer sentence to a question on forests


ENSEMBLES = (
    "Many trees can be combined into one model. Each tree sees a different sample of the rows.\n\n"
    "- **Bagging**: trees are trained on bootstrap samples and their votes are averaged.\n"
    "- **Boosting**: trees are trained one after another, each fixing the errors of the last.\n"
    "- **Stacking**: a second model learns how to weigh the predictions of the first ones.\n"
)


@pytest.mark.parametrize(
    "question",
    ["What are the main ensemble methods?", "What kinds of ensembles are there?", "What are the benefits of each ensemble?"],
    ids=["what-are-the-main", "what-kinds-of", "benefits"],
)
def test_a_question_asking_for_a_set_is_answered_with_the_whole_list(question):
    assert asked_type(question) == "list"
    one = Settings(max_answer_sentences=1)  # the list is one answer, however many items it has
    answer = extractive_answer(question, [_hit(ENSEMBLES, section="Trees > Ensembles")], {}, one)
    # All three items, in reading order, not the closest item alone nor the prose around the list.
    assert answer.answer.startswith("- **Bagging**"), answer.answer
    assert "**Boosting**" in answer.answer and "**Stacking**" in answer.answer
    assert "Each tree sees" not in answer.answer


def test_a_list_with_a_lead_in_is_quoted_from_its_lead_in():
    passage = (
        "Versioning the training data is the practice of recording which state of a dataset a model used.\n\n"
        "Versioning data gives you:\n\n"
        "- **Reproducibility**: the same code on the same data version gives the same model.\n"
        "- **Rollback**: after a bad batch you can go back to the last good version.\n"
    )
    answer = extractive_answer("What are the benefits of versioning data?", [_hit(passage, section="Data > Why version")], {}, SETTINGS)
    assert answer.answer.startswith("Versioning data gives you: [1]"), answer.answer
    assert "**Reproducibility**" in answer.answer and "**Rollback**" in answer.answer


def test_a_sentence_about_the_lesson_itself_loses_to_one_from_its_content():
    passage = (
        "This lesson explains when gradient boosting is preferred over random forests. "
        "Gradient boosting is preferred over random forests when the data is tabular and carefully tuned."
    )
    one = Settings(max_answer_sentences=1)
    # Both hold every word of the question, and the signpost comes first, so it would win a tie.
    answer = extractive_answer("When is gradient boosting preferred over random forests?", [_hit(passage)], {}, one)
    assert answer.answer == "Gradient boosting is preferred over random forests when the data is tabular and carefully tuned. [1]"
    # Asked where it is covered, the signpost is no worse than any other sentence.
    located = extractive_answer("Which lesson covers gradient boosting?", [_hit(passage)], {}, one)
    assert located.answer.startswith("The lesson \u201cTrees\u201d covers this")


def test_further_sentences_close_to_the_best_one_are_quoted_too():
    passage = (
        "Random forests average many deep trees trained on bootstrap samples. "
        "Averaging deep trees lowers the variance of a single tree. "
        "Forests rarely overfit when more trees are added."
    )
    answer = extractive_answer("How do random forests average trees?", [_hit(passage)], {}, SETTINGS)
    assert answer.answer.count("[1]") >= 2, answer.answer


def test_a_short_topic_sentence_brings_the_sentence_that_says_it():
    """'Feedback loops can also cause harm.' says nothing by itself; the next sentence of its paragraph is the answer."""
    passage = (
        "Feedback loops can also cause harm. A fraud model that blocks transactions never learns whether they were fraud.\n\n"
        "Teams keep a random holdout group."
    )
    answer = extractive_answer("Can feedback loops cause harm?", [_hit(passage)], {}, SETTINGS)
    assert answer.answer.startswith(
        "Feedback loops can also cause harm. [1] A fraud model that blocks transactions never learns whether they were fraud. [1]"
    ), answer.answer


def test_a_sentence_opening_with_a_connective_goes_on_from_the_best_one():
    passage = (
        "lakeFS is an open-source layer that adds Git-like operations to a data lake stored in object storage. "
        "Instead of tracking single files, it lets you create branches, commits and merges over whole buckets.\n\n"
        "DVC keeps small pointer files in Git."
    )
    answer = extractive_answer("What is lakeFS?", [_hit(passage, section="Data > lakeFS")], {}, SETTINGS)
    assert "Instead of tracking single files, it lets you create branches, commits and merges over whole buckets. [1]" in answer.answer


def test_two_items_of_one_list_bring_the_whole_list_with_its_lead_in():
    """Two items hold the question's words; the record it asks about is the whole list, not those two items."""
    passage = (
        "An audit trail is a record of who did what and when in the life of a model. For each model it should be possible to retrieve:\n\n"
        "- the training data version of the model and its origin;\n"
        "- the code commit, parameters and environment;\n"
        "- evaluation results, including fairness checks;\n"
        "- who gave approval for the model and when it was deployed.\n"
    )
    answer = extractive_answer("What should be kept about a model's data and approval?", [_hit(passage, section="Governance > Audit trails")], {}, SETTINGS)
    for line in ("the code commit, parameters and environment;", "evaluation results, including fairness checks;",
                 "the training data version of the model and its origin;", "who gave approval for the model"):
        assert line in answer.answer, answer.answer
    assert "For each model it should be possible to retrieve: [1]" in answer.answer


def test_passage_closeness_is_a_share_of_the_closest_passage_not_of_the_first_ranked():
    """A first-ranked passage (BM25 put it there) less close than the second must not make the second's sentences
    score above what a passage can: every passage's closeness share is at most 1."""
    first = _hit("Caching reuses a step's outputs when its inputs are unchanged.", section="Pipelines > Caching", score=0.28)
    second = _hit("A model is never done: it moves through a repeating cycle.", section="Lifecycle > Overview", score=0.40)
    answer = extractive_answer("Why should extraction run again when its inputs are unchanged?", [first, second], {}, SETTINGS)
    assert answer.answer.startswith("Caching reuses a step's outputs when its inputs are unchanged. [1]"), answer.answer


def test_a_short_topic_sentence_quoted_after_the_best_one_brings_its_next_sentence_too():
    passage = (
        "A feedback loop can harm a model in production when its outcomes flow back into training.\n\n"
        "Feedback loops can also cause harm. A fraud detector that blocks transactions never learns whether they were fraud."
    )
    answer = extractive_answer("How can a feedback loop harm a model in production?", [_hit(passage)], {}, SETTINGS)
    assert answer.answer.startswith("A feedback loop can harm a model in production"), answer.answer
    assert "A fraud detector that blocks transactions never learns whether they were fraud. [1]" in answer.answer


@pytest.mark.parametrize(
    "question,plain,typed",
    [
        ("Can you give me a concrete example?",
         "The join keeps training rows honest.", "A training row says customer 42 cancelled on 1 March."),
        ("What's the catch with end-to-end platforms?",
         "End-to-end platforms bundle notebooks, training jobs and serving.",
         "End-to-end platforms make it harder to move later because of vendor lock-in."),
    ],
    ids=["concrete-example", "whats-the-catch"],
)
def test_an_example_or_a_caveat_asked_for_wins_a_tie(question, plain, typed):
    one = Settings(max_answer_sentences=1)
    answer = extractive_answer(question, [_hit(f"{plain} {typed}")], {}, one)
    assert answer.answer == f"{typed} [1]"


def test_an_example_asked_for_after_a_definition_quotes_the_example():
    """The follow-up "Can you give me a concrete example?" after "What is point-in-time correctness?" quotes the
    lesson's example, not only the definition the learner was already given."""
    passage = (
        "Point-in-time correctness is the guarantee that each training example only uses values known at the time. "
        "The store looks values up by timestamp.\n\nA training row says customer 42 cancelled on 1 March."
    )
    question = "Can you give me a concrete example? (about point-in-time correctness)"
    answer = extractive_answer(question, [_hit(passage)], {}, SETTINGS)
    assert "A training row says customer 42 cancelled on 1 March. [1]" in answer.answer, answer.answer


def test_a_follow_ups_own_words_pick_the_sentence_not_its_topic_words():
    """'Does every team actually need one? (about feature store)': the topic found the passage; the sentence that
    answers is the one about a team needing one, not the one that repeats the topic's words most."""
    passage = (
        "Without a feature store, each team computes the same store of features in its own way. "
        "A team with one batch model may not need one yet."
    )
    answer = extractive_answer(
        "Does every team actually need one? (about feature store)", [_hit(passage)], {}, Settings(max_answer_sentences=1)
    )
    assert answer.answer == "A team with one batch model may not need one yet. [1]"


def test_a_wrapped_list_item_is_one_item_not_a_paragraph_after_it():
    # PDF text and Markdown's lazy continuation wrap a long item onto lines with no marker of their own.
    from core.text import split_sentences

    passage = (
        "Platforms on offer:\n"
        "- SageMaker: the AWS platform, with managed training jobs,\n"
        "SageMaker Pipelines and a model registry.\n"
        "- Vertex AI: Google Cloud's platform.\n\n"
        "Pick one that fits."
    )
    sentences = split_sentences(passage)
    assert [(s.text, s.is_item) for s in sentences] == [
        ("Platforms on offer:", False),
        ("SageMaker: the AWS platform, with managed training jobs, SageMaker Pipelines and a model registry.", True),
        ("Vertex AI: Google Cloud's platform.", True),
        ("Pick one that fits.", False),
    ]
    assert passage[sentences[1].start : sentences[1].end].endswith("a model registry.")


PLATFORMS = (
    "End-to-end platforms bundle training, tracking and serving into one managed product.\n"
    "- Amazon SageMaker: the AWS machine learning platform.\n"
    "- Google Vertex AI: Google Cloud's platform.\n"
    "- Databricks: a data and AI platform built around the lakehouse.\n\n"
    "Platforms remove integration work, but they tie you to one vendor."
)


@pytest.mark.parametrize("question", [
    "Which end-to-end ML platforms does the handout list?",
    "What kinds of end-to-end platforms are there?",
])
def test_a_question_asking_for_a_set_takes_the_sentence_before_a_list_as_its_lead_in(question):
    one = Settings(max_answer_sentences=1)  # the list comes with its lead-in, not on the items' own merits
    answer = extractive_answer(question, [_hit(PLATFORMS, section="Tools > End-to-end platforms")], {}, one)
    assert answer.answer.startswith("End-to-end platforms bundle training, tracking and serving into one managed product. [1]")
    for name in ("Amazon SageMaker", "Google Vertex AI", "Databricks"):
        assert f"- {name}:" in answer.answer, answer.answer


def test_a_sentence_before_a_list_is_no_lead_in_for_a_question_not_asking_for_a_set():
    one = Settings(max_answer_sentences=1)
    answer = extractive_answer("What do end-to-end platforms bundle?", [_hit(PLATFORMS, section="Tools > End-to-end platforms")], {}, one)
    assert "Databricks" not in answer.answer, answer.answer


@pytest.mark.parametrize("question, kind", [
    ("Which end-to-end ML platforms does the handout list?", "code"),
    ("Which open-source tools track experiments?", "code"),
    ("What do tools like MLflow record?", None),
])
def test_a_named_set_may_be_qualified_by_up_to_two_words(question, kind):
    assert asked_type(question) == kind


def test_a_plain_term_item_defines_its_term():
    passage = (
        "In Feast, you declare feature views in Python files.\n\n"
        "- Feast: an open-source feature store that sits on top of existing storage.\n"
        "- Tecton: a managed commercial feature platform."
    )
    one = Settings(max_answer_sentences=1)  # only the best sentence
    answer = extractive_answer("What is Feast used for?", [_hit(passage, section="Stores > Products")], {}, one)
    assert answer.answer.startswith("- Feast: an open-source feature store"), answer.answer
    assert "in Python files" not in answer.answer


def test_a_code_block_cut_at_the_passage_end_is_quoted_on_from_the_next_passage():
    first = _hit("Use these as the labels for your donut chart:\n\n```python\nlabels = ['Grass', 'Wood']", section="Charts > Donuts")
    rest = RetrievedChunk(
        Chunk(Chunk.make_id("trees.md", "Charts > Donuts", None, "rest"),
              "plt.pie(counts, labels=labels)\ncircle = plt.Circle((0, 0), 0.4)\n```\n\nThis draws the hole.",
              "trees.md", "Trees", "Charts > Donuts", "donuts", None, 1, "sha"),
        score=0.5, neighbour_of=first.chunk.id)
    answer = extractive_answer("How do I make a donut chart?", [first, rest], {}, SETTINGS)
    assert "labels = ['Grass', 'Wood']\nplt.pie(counts, labels=labels)\ncircle = plt.Circle((0, 0), 0.4)\n```" in answer.answer, answer.answer


@pytest.mark.parametrize("weak, section", [
    ("Learn more about how donut charts show shares in the [docs](https://example.org/donuts).", "Charts > Donuts"),
    ("Donut charts show shares, as your homework this week will show.", "Charts > Review & Self Study"),
    ("Donut charts show shares, as the challenge this week will show.", "Charts > 🚀 Challenge"),
    ("For how donut charts show shares, see the following resources:\n\n- [Donut guide](https://example.org) - a guide",
     "Charts > Donuts"),
])
def test_a_pointer_elsewhere_or_a_sentence_of_a_lessons_closing_part_loses_to_content(weak, section):
    content = _hit("Donut charts show shares as slices around a hole.", section="Charts > Donut charts", score=0.6)
    answer = extractive_answer("How do donut charts show shares?", [_hit(weak, section=section, score=0.7), content], {},
                               Settings(max_answer_sentences=1))
    assert answer.answer.startswith("Donut charts show shares as slices"), answer.answer


def test_a_pdf_title_line_run_into_its_subtitle_is_not_the_answer():
    title = _hit("Trees\nCourse handout: which tree models exist and how to choose", section="Trees", score=0.7)
    content = _hit("Tree models include gradient boosting and random forests.", section="Trees > Models", score=0.7)
    answer = extractive_answer("Which tree models does the handout say exist?", [title, content], {}, Settings(max_answer_sentences=1))
    assert answer.answer.startswith("Tree models include"), answer.answer


def test_how_do_i_prefers_a_lead_in_with_code_over_prose_that_shares_more_words():
    passage = (
        "Donut charts can be tweaked in several ways to change the look of the chart.\n\n"
        "Use the labels for your donut:\n\n```python\nplt.pie(counts, labels=labels)\n```\n"
    )
    answer = extractive_answer("How do I turn my pie chart into a donut chart?", [_hit(passage, section="Charts > Donuts")], {},
                               Settings(max_answer_sentences=1))
    assert answer.answer.startswith("Use the labels for your donut: [1]"), answer.answer


def test_a_list_item_of_several_sentences_is_quoted_as_one_bullet():
    passage = (
        "There are several ways to store the trees:\n\n"
        "- A model registry keeps every version of the trees. Each version has a name and a stage.\n"
        "- A plain bucket keeps the files. It has no notion of versions.\n"
    )
    answer = extractive_answer("What are the ways to store the trees?", [_hit(passage)], {}, SETTINGS)
    assert answer.answer == (
        "There are several ways to store the trees: [1]\n\n"
        "- A model registry keeps every version of the trees. [1] Each version has a name and a stage. [1]\n"
        "- A plain bucket keeps the files. [1] It has no notion of versions. [1]"
    ), answer.answer
