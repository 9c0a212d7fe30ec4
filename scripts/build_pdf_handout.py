"""Build the PDF handout corpus/13-mlops-tool-landscape.pdf.

The handout text lives in this file. The PDF uses the standard Helvetica
fonts (so text is extractable), A4 pages with numbered footers, a title in
the document metadata, and one outline entry (bookmark) per major section.
Output is deterministic: re-running produces the same bytes.

Usage:  python scripts/build_pdf_handout.py [output.pdf]
Needs:  reportlab (a dev dependency of the project).
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

TITLE = "The MLOps Tool Landscape"
SUBTITLE = "Course handout: which tools exist, what each category does, and how to choose"
OUT = Path(__file__).resolve().parent.parent / "corpus" / "13-mlops-tool-landscape.pdf"

# Handout content. Each section: (heading, blocks, page_break_before).
# A block is either a plain paragraph string or a list of (term, definition)
# pairs, rendered as a bullet list with the term in bold.
SECTIONS: list[tuple[str, list, bool]] = [
    (
        "Why a tool landscape?",
        [
            "MLOps is not one product. It is a set of practices, and each practice is supported by "
            "a family of tools. A team usually assembles several of them into a platform: one tool "
            "tracks experiments, another versions data, a third runs pipelines, and so on. Knowing "
            "the categories helps you read job descriptions, architecture diagrams and vendor pages "
            "with a clear question in mind: which part of the machine learning lifecycle does this "
            "tool cover?",
            "This handout walks through the main categories, names well-known open-source and "
            "commercial tools in each, and ends with practical advice on choosing between them. "
            "Tools change quickly, so focus on what each category does; the names are examples, "
            "not a complete list.",
        ],
        False,
    ),
    (
        "Experiment tracking and model registry",
        [
            "Experiment tracking tools record the parameters, metrics, artifacts and code version of "
            "every training run so results can be compared and reproduced. A model registry is the "
            "catalog where trained models are stored as numbered versions with aliases or stages, "
            "lineage back to the run that produced them, and an approval history. The two are often "
            "part of the same product.",
            [
                ("MLflow", "an open-source platform whose Tracking component logs runs and whose "
                 "Model Registry manages model versions and aliases; it can be self-hosted and is "
                 "also offered as a managed service, for example on Databricks."),
                ("Weights & Biases", "a hosted platform (with a self-hosted option) for tracking "
                 "experiments with live dashboards, hyperparameter sweeps, dataset and model "
                 "artifacts, and a model registry."),
            ],
            "Similar tools include Neptune, Comet, ClearML and Aim. All of them answer the same "
            "question: which settings and which data produced this model?",
        ],
        False,
    ),
    (
        "Data versioning",
        [
            "Data versioning tools record which exact state of a dataset was used for each model, "
            "so training can be reproduced and a bad data change can be rolled back. They rely on "
            "content hashes and snapshots instead of copying whole datasets each time.",
            [
                ("DVC", "Data Version Control, an open-source tool that works alongside Git: small "
                 "pointer files in the repository reference large data files kept in remote "
                 "storage such as S3, and dvc.yaml pipelines re-run only changed stages."),
                ("lakeFS", "an open-source layer over object storage that brings Git-like "
                 "branches, commits and merges to an entire data lake, so new data can be "
                 "validated on a branch before it is merged."),
            ],
        ],
        True,
    ),
    (
        "Orchestration",
        [
            "Orchestrators run pipelines: they execute steps in dependency order, usually described "
            "as a directed acyclic graph (DAG), start runs on a schedule or in response to events, "
            "retry failed steps and keep a history of every run.",
            [
                ("Apache Airflow", "a mature, widely used open-source workflow scheduler, with "
                 "DAGs written in Python and a large library of integrations; a natural choice "
                 "where data engineering already runs on it."),
                ("Kubeflow Pipelines", "a Kubernetes-native system where each step runs in its own "
                 "container, with artifact tracking and step caching built in."),
                ("Prefect", "a Python-first orchestrator that turns ordinary functions into tasks "
                 "and flows with decorators, with retries and a hosted or self-hosted UI."),
                ("Dagster", "an orchestrator organized around software-defined assets such as "
                 "tables and models, with strong support for testing and lineage."),
            ],
            "ZenML and Metaflow are further options aimed specifically at ML teams.",
        ],
        False,
    ),
    (
        "Feature stores",
        [
            "A feature store keeps one definition of each feature and serves its values in two "
            "ways: an offline store holds history for building point-in-time correct training "
            "sets, and an online store holds the latest values for low-latency predictions. This "
            "reduces training/serving skew and lets teams reuse features.",
            [
                ("Feast", "an open-source feature store that sits on top of existing storage, such "
                 "as a data warehouse for offline data and Redis or DynamoDB for online data."),
                ("Tecton", "a managed commercial feature platform for batch, streaming and "
                 "real-time features, built by engineers who created Uber's Michelangelo platform."),
            ],
            "Hopsworks and the feature stores built into the large cloud platforms cover the same "
            "need.",
        ],
        True,
    ),
    (
        "Model serving",
        [
            "Serving tools turn a model file into a service that answers prediction requests over "
            "REST or gRPC, or run it in batch. They handle request validation, batching, scaling "
            "and safe rollouts such as canary releases.",
            [
                ("BentoML", "an open-source Python framework that packages a model and its serving "
                 "code into a deployable unit and a Docker image, with adaptive batching."),
                ("KServe", "a Kubernetes-based inference platform that provides a standard "
                 "InferenceService resource, autoscaling including scale to zero, and canary "
                 "traffic splitting."),
                ("Seldon Core", "an open-source platform for deploying models on Kubernetes, "
                 "including multi-step inference graphs and built-in monitoring hooks."),
                ("NVIDIA Triton Inference Server", "a high-performance server for GPU and CPU "
                 "inference that supports many model formats, including TensorRT, ONNX, PyTorch "
                 "and TensorFlow, with dynamic batching."),
            ],
            "For a single small model, a web framework such as FastAPI is often enough.",
        ],
        False,
    ),
    (
        "Monitoring",
        [
            "Monitoring tools watch a deployed model. Operational monitoring covers latency, errors "
            "and resource use; model monitoring covers data drift, prediction drift, data quality "
            "and, once labels arrive, accuracy.",
            [
                ("Evidently", "an open-source Python library that produces drift, data quality and "
                 "performance reports and test suites, plus a monitoring dashboard."),
                ("WhyLabs", "an observability platform built on whylogs, an open-source library "
                 "that summarizes data as lightweight statistical profiles."),
                ("Prometheus", "an open-source time-series database that scrapes metrics from "
                 "services and fires alerts, usually paired with Grafana dashboards."),
            ],
        ],
        True,
    ),
    (
        "End-to-end platforms",
        [
            "End-to-end platforms bundle most of the categories above into one managed product: "
            "notebooks, training jobs, experiment tracking, a model registry, pipelines, feature "
            "stores, serving endpoints and monitoring, all with shared security and billing.",
            [
                ("Amazon SageMaker", "the AWS machine learning platform, with managed training "
                 "jobs, SageMaker Pipelines, a model registry, real-time and batch endpoints, and "
                 "Model Monitor."),
                ("Google Vertex AI", "Google Cloud's platform, with managed training, Vertex AI "
                 "Pipelines (which runs Kubeflow pipeline definitions), a model registry, online "
                 "prediction endpoints and model monitoring."),
                ("Azure Machine Learning", "Microsoft's platform, with workspaces, pipelines, a "
                 "model registry, managed online endpoints and MLflow-compatible tracking."),
                ("Databricks", "a data and AI platform built around the lakehouse, with managed "
                 "MLflow, a model registry in Unity Catalog, feature engineering and model "
                 "serving."),
            ],
            "Platforms remove a lot of integration work, but they also tie your workflow to one "
            "vendor's services and pricing.",
        ],
        False,
    ),
    (
        "How to choose",
        [
            "There is no best stack, only a stack that fits your team, your constraints and your "
            "current stage. A few questions help narrow the field.",
            [
                ("Open source or managed", "open-source tools avoid license fees and can run "
                 "anywhere, but someone must install, upgrade, secure and back them up; managed "
                 "services cost money but shift that operational work to the vendor."),
                ("Team size and skills", "a small team without platform engineers usually gets "
                 "further with a managed platform or a few lightweight tools than with a "
                 "self-run Kubernetes stack."),
                ("Lock-in", "the more of a vendor's proprietary APIs you use, the harder it is to "
                 "move later; open formats and standards such as MLflow models, ONNX, Docker "
                 "images and Kubernetes reduce that risk."),
                ("Existing infrastructure", "tools that fit what you already run, such as your "
                 "cloud provider, data warehouse or CI system, are cheaper to adopt."),
                ("Scale and latency", "a nightly batch model needs far less serving "
                 "infrastructure than a fraud model that must answer in milliseconds."),
            ],
            "A sensible path is to start small: version code and data, track experiments, and "
            "automate one training pipeline. Add a registry, monitoring, a feature store or a "
            "dedicated serving platform when a real pain point appears, not because a diagram "
            "shows every box. Whatever you choose, prefer tools that make runs reproducible and "
            "models traceable, because those two properties matter more than any single product.",
        ],
        True,
    ),
]


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "Body", parent=base["BodyText"], fontName="Helvetica", fontSize=11, leading=15,
        spaceAfter=8,
    )
    return {
        "title": ParagraphStyle(
            "HandoutTitle", parent=base["Title"], fontName="Helvetica-Bold", fontSize=22,
            leading=27, alignment=TA_CENTER, spaceAfter=6,
        ),
        "subtitle": ParagraphStyle(
            "HandoutSubtitle", parent=body, fontName="Helvetica-Oblique", fontSize=11,
            alignment=TA_CENTER, spaceAfter=18,
        ),
        "h1": ParagraphStyle(
            "SectionHeading", parent=base["Heading1"], fontName="Helvetica-Bold", fontSize=16,
            leading=20, spaceBefore=12, spaceAfter=8, keepWithNext=1,
        ),
        "body": body,
        "bullet": ParagraphStyle(
            "Bullet", parent=body, leftIndent=18, bulletIndent=6, spaceAfter=5,
        ),
    }


class SectionHeading(Paragraph):
    """A heading paragraph that registers a PDF bookmark and outline entry."""

    def __init__(self, text: str, style: ParagraphStyle, key: str):
        super().__init__(escape(text), style)
        self.outline_title = text
        self.outline_key = key


class HandoutDoc(BaseDocTemplate):
    def __init__(self, filename: str, **kw):
        super().__init__(filename, **kw)
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=self._footer)])

    def afterFlowable(self, flowable):
        if isinstance(flowable, SectionHeading):
            c = self.canv
            # Point the bookmark at the top of the heading on its page.
            top = self.frame._y + flowable.height + flowable.style.spaceAfter
            c.bookmarkPage(flowable.outline_key, fit="XYZ", left=0, top=top, zoom=0)
            c.addOutlineEntry(flowable.outline_title, flowable.outline_key, level=0, closed=False)

    @staticmethod
    def _footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 9)
        canvas.drawString(doc.leftMargin, 1.2 * cm, TITLE)
        canvas.drawRightString(doc.leftMargin + doc.width, 1.2 * cm, f"Page {doc.page}")
        canvas.restoreState()


def build_story() -> list:
    st = _styles()
    story: list = [
        Paragraph(escape(TITLE), st["title"]),
        Paragraph(escape(SUBTITLE), st["subtitle"]),
    ]
    for i, (heading, blocks, page_break) in enumerate(SECTIONS):
        if page_break:
            story.append(PageBreak())
        story.append(SectionHeading(heading, st["h1"], key=f"section-{i + 1}"))
        for block in blocks:
            if isinstance(block, str):
                story.append(Paragraph(escape(block), st["body"]))
            else:
                for term, definition in block:
                    story.append(
                        Paragraph(f"<b>{escape(term)}</b>: {escape(definition)}",
                                  st["bullet"], bulletText="-")
                    )
                story.append(Spacer(1, 4))
    return story


def word_count() -> int:
    words = len(TITLE.split()) + len(SUBTITLE.split())
    for heading, blocks, _ in SECTIONS:
        words += len(heading.split())
        for block in blocks:
            if isinstance(block, str):
                words += len(block.split())
            else:
                words += sum(len(t.split()) + len(d.split()) for t, d in block)
    return words


def build(out: Path = OUT) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = HandoutDoc(
        str(out),
        pagesize=A4,
        leftMargin=2.5 * cm,
        rightMargin=2.5 * cm,
        topMargin=2.5 * cm,
        bottomMargin=2.5 * cm,
        title=TITLE,
        author="Course Guide",
        subject="MLOps course handout",
        creator="scripts/build_pdf_handout.py",
        invariant=1,
    )
    doc.build(build_story())
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else OUT
    path = build(out)
    print(f"wrote {path} ({word_count()} words of handout text)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
