"""Metrics against small cases computed by hand."""

import numpy as np
import pytest

from tlstudio.api.metrics import (
    calibration,
    cell_members,
    compute_metrics,
    confusion_matrix,
    most_confident_mistakes,
    normalize_rows,
    per_class_report,
    top_k_accuracy,
)

NAMES = ("cat", "dog", "fox")
# 6 images. True: cat cat cat dog dog fox. Nothing is ever predicted as fox.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
PROBS = np.array(
    [
        [0.9, 0.1, 0.0],  # cat -> cat
        [0.6, 0.3, 0.1],  # cat -> cat
        [0.2, 0.7, 0.1],  # cat -> dog (mistake, conf .7)
        [0.1, 0.8, 0.1],  # dog -> dog
        [0.55, 0.4, 0.05],  # dog -> cat (mistake, conf .55)
        [0.3, 0.4, 0.3],  # fox -> dog (mistake, conf .4; fox is 2nd= tie with cat, lower index wins)
    ]
)


def test_confusion_matrix_counts_and_row_normalisation():
    cm = confusion_matrix(Y_TRUE, PROBS.argmax(1), 3)
    assert cm.tolist() == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    norm = normalize_rows(cm)
    np.testing.assert_allclose(norm[0], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(norm[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(norm[2], [0, 1, 0])


def test_empty_row_normalises_to_zeros_without_warning():
    cm = np.array([[3, 1], [0, 0]])
    with np.errstate(all="raise"):
        norm = normalize_rows(cm)
    assert norm.tolist() == [[0.75, 0.25], [0.0, 0.0]]


def test_per_class_report_with_a_class_never_predicted():
    cm = confusion_matrix(Y_TRUE, PROBS.argmax(1), 3)
    with np.errstate(all="raise"):  # no 0/0 anywhere
        cat, dog, fox = per_class_report(cm, NAMES)
    # cat: tp 2, predicted 3 (2 cats + 1 dog), support 3
    assert cat.precision == pytest.approx(2 / 3) and cat.recall == pytest.approx(2 / 3)
    assert cat.f1 == pytest.approx(2 / 3) and cat.support == 3 and cat.predicted == 3
    # dog: tp 1, predicted 3, support 2 -> p 1/3, r 1/2, f1 = 2*(1/6)/(5/6) = 0.4
    assert dog.precision == pytest.approx(1 / 3) and dog.recall == pytest.approx(0.5)
    assert dog.f1 == pytest.approx(0.4)
    # fox is never predicted: precision 0 by convention, recall 0, f1 0
    assert (fox.precision, fox.recall, fox.f1, fox.support, fox.predicted) == (0.0, 0.0, 0.0, 1, 0)


def test_class_without_images_has_zero_recall():
    cm = confusion_matrix([0, 0], [0, 1], 2)
    _, second = per_class_report(cm, ("a", "b"))
    assert second.support == 0 and second.recall == 0.0 and second.precision == 0.0


def test_top_k_accuracy():
    assert top_k_accuracy(Y_TRUE, PROBS, 1) == pytest.approx(3 / 6)
    # top-2 adds image 2 (cat is 2nd), image 4 (dog 2nd); image 5: fox ties cat at .3,
    # the tie goes to the lower index (cat), so fox is 3rd and still missed.
    assert top_k_accuracy(Y_TRUE, PROBS, 2) == pytest.approx(5 / 6)
    assert top_k_accuracy(Y_TRUE, PROBS, 3) == 1.0
    assert top_k_accuracy(Y_TRUE, PROBS, 10) == 1.0
    with pytest.raises(ValueError, match="Received: k=0"):
        top_k_accuracy(Y_TRUE, PROBS, 0)


def test_ece_on_a_tiny_hand_computed_example():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6]])
    cal = calibration(y, probs, n_bins=2)
    # bin (0, .5]: empty. bin (.5, 1]: all four, conf mean (.9+.8+.7+.6)/4 = .75,
    # correct: yes, yes, no, yes -> .75; ECE = |.75-.75| = 0
    assert [b.count for b in cal.bins] == [0, 4]
    assert cal.ece == pytest.approx(0.0)
    cal5 = calibration(y, probs, n_bins=5)
    # bins of width .2: (.6,.8] holds .8,.7,.6? .6 -> ceil(3.0)-1 = 2 -> bin (.4,.6]
    # bin (.4,.6]: conf .6, correct -> |1-.6| * 1/4 = .1
    # bin (.6,.8]: conf .8 (correct), .7 (wrong) -> acc .5, conf .75 -> |.5-.75| * 2/4 = .125
    # bin (.8,1]: conf .9 correct -> |1-.9| * 1/4 = .025
    assert [b.count for b in cal5.bins] == [0, 0, 1, 2, 1]
    assert cal5.bins[3].accuracy == pytest.approx(0.5) and cal5.bins[3].confidence == pytest.approx(0.75)
    assert cal5.ece == pytest.approx(0.1 + 0.125 + 0.025)


def test_cell_members_sorted_by_confidence():
    y = np.array([0, 0, 0, 1])
    probs = np.array([[0.2, 0.8], [0.1, 0.9], [0.9, 0.1], [0.3, 0.7]])
    assert cell_members(y, probs, 0, 1).tolist() == [1, 0]
    assert cell_members(y, probs, 0, 0).tolist() == [2]
    assert cell_members(y, probs, 1, 0).tolist() == []


def test_most_confident_mistakes_across_classes():
    assert most_confident_mistakes(Y_TRUE, PROBS).tolist() == [2, 4, 5]
    assert most_confident_mistakes(Y_TRUE, PROBS, limit=1).tolist() == [2]


def test_compute_metrics_bundle_and_dict():
    m = compute_metrics(Y_TRUE, PROBS, NAMES, top_k=(1, 2, 5))
    assert m.accuracy == pytest.approx(0.5)
    assert m.num_images == 6
    assert set(m.top_k) == {1, 2}  # k >= number of classes is always 100%, dropped
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.4 + 0) / 3)
    d = m.to_dict()
    assert d["confusion"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    assert d["per_class"][2] == {"name": "fox", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert d["top_k"]["2"] == pytest.approx(5 / 6)


def test_zero_images_give_zero_metrics():
    m = compute_metrics(np.zeros((0,), int), np.zeros((0, 2)), ("a", "b"))
    assert m.accuracy == 0.0 and m.num_images == 0 and m.calibration.ece == 0.0
    assert m.confusion.tolist() == [[0, 0], [0, 0]]


def test_bad_shapes_say_what_was_received():
    with pytest.raises(ValueError, match="Received"):
        compute_metrics([0, 1], np.zeros((3, 2)), ("a", "b"))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        confusion_matrix([0, 2], [0, 1], 2)


def test_predictions_csv_keeps_file_names_that_are_not_utf8(tmp_path):
    import os

    from tlstudio.api.evaluate import write_predictions_csv
    from tlstudio.api.evaluate import ImagePrediction

    name = os.fsdecode(b"/photos/caf\xe9.png")  # a Latin-1 name on a UTF-8 system
    row = ImagePrediction(index=0, path=name, true=1, pred=1, confidence=0.9, probs=(0.1, 0.9))
    out = tmp_path / "pred.csv"
    write_predictions_csv(out, [row], ["a", "b"])
    lines = out.read_bytes().splitlines()
    assert lines[1].startswith(b"/photos/caf\xe9.png,b,b,0.900000,1,")


def test_one_vs_rest_auc_on_a_hand_computed_example():
    from tlstudio.api.metrics import one_vs_rest_curves

    # Class 0 scores: positives 0.9, 0.4; negatives 0.6, 0.1. Of the 4 (pos, neg) pairs,
    # 3 rank the positive higher: ROC AUC 0.75. Ranked by score: 0.9 (pos), 0.6 (neg), 0.4 (pos),
    # 0.1 (neg): average precision = 1/2 * (1/1) + 1/2 * (2/3) = 5/6.
    y = np.array([0, 1, 0, 1])
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.4, 0.6], [0.1, 0.9]])
    curves = one_vs_rest_curves(y, probs, ["a", "b"])
    assert curves[0].roc_auc == pytest.approx(0.75)
    assert curves[0].average_precision == pytest.approx(5 / 6)
    assert curves[0].fpr[0] == 0.0 and curves[0].fpr[-1] == 1.0 and curves[0].tpr[-1] == 1.0
    assert len(curves[0].recall) == len(curves[0].precision) > 1


def test_curves_of_a_class_without_images_have_no_area():
    y = np.array([0, 0, 1])
    probs = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1]])
    m = compute_metrics(y, probs, ["a", "b", "c"])
    assert [c.name for c in m.curves] == ["a", "b", "c"]
    assert m.curves[0].roc_auc == pytest.approx(1.0) and m.curves[1].roc_auc == pytest.approx(1.0)
    assert m.curves[2].roc_auc is None and m.curves[2].average_precision is None and m.curves[2].fpr == ()
    assert m.to_dict()["curves"][2] == {"name": "c", "roc_auc": None, "average_precision": None,
                                         "roc": {"fpr": [], "tpr": []}, "pr": {"recall": [], "precision": []}}
