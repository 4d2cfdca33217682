"""The TF-IDF + logistic regression baseline: training, and its folder in a safe, non-pickle form.

A TF-IDF folder holds `tfidf.json` (the vectoriser's settings, its vocabulary and the class
indices) and `tfidf.safetensors` (idf weights, coefficients, intercepts, float64). Loading
rebuilds scikit-learn's own TfidfVectorizer and LogisticRegression around those arrays, so a
loaded folder labels exactly (bit for bit) like the pipeline that was trained, and nothing in
the folder can run code (a pickle can). Train's test-part scoring goes through the same
rebuilt classifier as `adme label`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adme.errors import AdmeError

GRID_TFIDF_C = (0.1, 1.0, 10.0, 100.0)
DEFAULT_C = 10.0
SETTINGS_FILE = "tfidf.json"
ARRAYS_FILE = "tfidf.safetensors"
WEIGHT_FILES = (SETTINGS_FILE, ARRAYS_FILE)
# the TfidfVectorizer settings a folder records (all plain JSON values)
VECTORIZER_SETTINGS = (
    "analyzer",
    "binary",
    "lowercase",
    "max_df",
    "min_df",
    "ngram_range",
    "norm",
    "smooth_idf",
    "strip_accents",
    "sublinear_tf",
    "token_pattern",
    "use_idf",
)


@dataclass(frozen=True)
class TfidfWeights:
    """Everything a fitted TF-IDF + logistic regression pipeline needs to label text."""

    settings: dict
    vocabulary: dict[str, int]
    class_indices: list[int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray


def new_pipeline(c: float, seed: int):
    """TF-IDF of word 1-2 grams (sublinear tf) + logistic regression with inverse strength C."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(C=c, max_iter=2000, random_state=seed),
    )


def weights_of(pipeline) -> TfidfWeights:
    """The arrays and settings of a fitted pipeline (vectoriser, logistic regression)."""
    vectorizer, logreg = pipeline[0], pipeline[-1]
    params = vectorizer.get_params()
    settings = {k: params[k] for k in VECTORIZER_SETTINGS}
    settings["ngram_range"] = list(settings["ngram_range"])
    return TfidfWeights(
        settings=settings,
        vocabulary={term: int(i) for term, i in vectorizer.vocabulary_.items()},
        class_indices=[int(c) for c in logreg.classes_],
        # C order: safetensors writes the raw buffer, and lbfgs leaves coef_ Fortran-ordered
        idf=np.ascontiguousarray(vectorizer.idf_, dtype=np.float64),
        coef=np.ascontiguousarray(logreg.coef_, dtype=np.float64),
        intercept=np.ascontiguousarray(logreg.intercept_, dtype=np.float64),
    )


class TfidfClassifier:
    """A TF-IDF + logistic regression model ready for inference: predict_proba(texts)."""

    kind = "tfidf"

    def __init__(self, weights: TfidfWeights, classes: Sequence[str], model_id: str, info=None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if weights.class_indices != list(range(len(classes))):
            raise AdmeError(
                f"{model_id}: TF-IDF class indices {weights.class_indices} do not match "
                f"classes {list(classes)}"
            )
        settings = dict(weights.settings)
        settings["ngram_range"] = tuple(settings["ngram_range"])
        self.vectorizer = TfidfVectorizer(**settings)
        self.vectorizer.vocabulary_ = dict(weights.vocabulary)
        self.vectorizer.idf_ = weights.idf
        self.logreg = LogisticRegression()
        self.logreg.classes_ = np.asarray(weights.class_indices)
        self.logreg.coef_ = weights.coef
        self.logreg.intercept_ = weights.intercept
        self.logreg.n_features_in_ = weights.coef.shape[1]
        self.weights = weights
        self.classes = tuple(classes)
        self.model_id = model_id
        self.info = info
        self.notes: list[str] = []

    def predict_proba(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Class probabilities, (len(texts), len(classes)), rows in input order."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        probs = self.logreg.predict_proba(self.vectorizer.transform(list(texts)))
        if on_batch:
            on_batch(len(texts))
        return probs


def save_weights(weights: TfidfWeights, folder: Path) -> None:
    """Write tfidf.json and tfidf.safetensors into `folder` (no pickle anywhere)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "settings": weights.settings,
        "class_indices": weights.class_indices,
        "vocabulary": weights.vocabulary,
    }
    (folder / SETTINGS_FILE).write_text(json.dumps(payload, sort_keys=True))
    arrays = {"idf": weights.idf, "coef": weights.coef, "intercept": weights.intercept}
    # safetensors writes the raw buffer: a Fortran-ordered array would be stored transposed
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / ARRAYS_FILE))


def read_weights(folder: Path) -> TfidfWeights:
    """Read a TF-IDF folder's settings and arrays; a missing or damaged file is one line."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    for name in WEIGHT_FILES:
        if not (folder / name).is_file():
            raise AdmeError(f"{folder}: TF-IDF model file {name} is missing")
    try:
        payload = json.loads((folder / SETTINGS_FILE).read_text())
        settings = {k: payload["settings"][k] for k in VECTORIZER_SETTINGS}
        vocabulary = {str(k): int(v) for k, v in payload["vocabulary"].items()}
        class_indices = [int(c) for c in payload["class_indices"]]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AdmeError(f"{folder / SETTINGS_FILE}: not a readable TF-IDF description") from exc
    try:
        arrays = load_file(str(folder / ARRAYS_FILE))
        idf, coef, intercept = arrays["idf"], arrays["coef"], arrays["intercept"]
    except (OSError, SafetensorError, KeyError) as exc:
        raise AdmeError(f"{folder / ARRAYS_FILE}: not readable TF-IDF weights ({exc})") from exc
    if not (idf.shape == (len(vocabulary),) and coef.shape[1:] == idf.shape):
        raise AdmeError(f"{folder}: TF-IDF arrays do not match its vocabulary of {len(vocabulary)}")
    return TfidfWeights(settings, vocabulary, class_indices, idf, coef, intercept)


def load_tfidf(folder: Path, info, options) -> TfidfClassifier:
    """The `tfidf` loader of adme.model_folder.KINDS: a folder -> TfidfClassifier."""
    from adme.model_id import model_id

    weights = read_weights(folder)
    return TfidfClassifier(weights, info.classes, model_id(folder, WEIGHT_FILES), info)


@dataclass(frozen=True)
class TfidfFit:
    """The chosen TF-IDF model of a (possibly grid-searched) fit, with its validation score."""

    c: float
    classifier: TfidfClassifier
    validation_macro_f1: float | None


def fit_tfidf(
    texts: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    seed: int,
    *,
    candidates: Sequence[float] = (DEFAULT_C,),
    validate: Callable[[TfidfClassifier], float | None] = lambda _classifier: None,
) -> TfidfFit:
    """Fit one pipeline per C; keep the best by `validate` (validation macro-F1; first on ties)."""
    best: TfidfFit | None = None
    for c in candidates:
        pipeline = new_pipeline(c, seed).fit(list(texts), list(labels))
        classifier = TfidfClassifier(weights_of(pipeline), classes, "unsaved tfidf")
        macro = validate(classifier)
        if best is None or (macro is not None and macro > (best.validation_macro_f1 or 0.0)):
            best = TfidfFit(c, classifier, macro)
    assert best is not None  # candidates is never empty
    return best
