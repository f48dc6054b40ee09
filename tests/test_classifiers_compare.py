"""The comparison report: table cells and the language-model-vs-baselines verdict."""
from seqvec.classifiers.selection.compare import markdown_table, verdicts


def run(encoder, head, value, lo, hi, task="ss3", metric="Q3", name=None):
    model = "seqvec-mini" if encoder == "lm" else encoder
    return {"encoder": encoder, "key": encoder, "model": model, "name": name or model, "head": head,
            "tasks": {task: {"metrics": {metric: {"value": value, "ci95": [lo, hi]}}}}}


def results(*runs):
    return {"tasks": {"ss3": {"metric": "Q3", "level": "residue"}}, "runs": list(runs)}


def test_verdict_needs_non_overlapping_intervals():
    clear = results(run("onehot", "cnn", 0.66, 0.65, 0.67), run("blosum62", "cnn", 0.67, 0.66, 0.68),
                    run("lm", "cnn", 0.72, 0.71, 0.73))
    assert "beats every baseline" in verdicts(clear)[0]
    overlapping = results(run("onehot", "cnn", 0.66, 0.65, 0.67), run("lm", "cnn", 0.67, 0.66, 0.68))
    assert "not a clear win" in verdicts(overlapping)[0]
    worse = results(run("blosum62", "cnn", 0.67, 0.66, 0.68), run("lm", "cnn", 0.60, 0.59, 0.61))
    assert "does NOT beat blosum62" in verdicts(worse)[0]
    assert verdicts(results(run("onehot", "cnn", 0.66, 0.65, 0.67))) == []  # no LM row: no verdict


def test_markdown_table_formats_percent_and_mcc():
    r = results(run("lm", "cnn", 0.7234, 0.71, 0.73))
    r["tasks"]["disorder"] = {"metric": "MCC", "level": "residue"}
    r["runs"][0]["tasks"]["disorder"] = {"metrics": {"MCC": {"value": 0.41234, "ci95": [0.4, 0.43]}}}
    table = markdown_table(r)
    assert "| seqvec-mini | cnn | 72.3 [71.0, 73.0] | 0.412 [0.400, 0.430] |" in table
    assert table.splitlines()[0] == "| encoder | head | ss3 Q3 | disorder MCC |"


def test_every_language_model_row_gets_its_verdict():
    """Two models and a layer view of one: one line each, named by row, against the same best baseline."""
    three = results(run("blosum62", "cnn", 0.67, 0.66, 0.68), run("lm", "cnn", 0.66, 0.65, 0.67),
                    run("lm", "cnn", 0.72, 0.71, 0.73, name="seqvec-mini-v2 concat"),
                    run("lm+blosum62", "cnn", 0.68, 0.67, 0.69, name="seqvec-mini+blosum62"))
    lines = verdicts(three)
    assert len(lines) == 3 and all("best baseline blosum62" in line for line in lines)
    assert "seqvec-mini 66.0" in lines[0] and "does NOT beat" in lines[0]
    assert lines[1].startswith("ss3 Q3 (cnn): seqvec-mini-v2 concat 72.0") and "beats every baseline" in lines[1]
    assert "seqvec-mini+blosum62 68.0" in lines[2] and "not a clear win" in lines[2]


def test_verdict_against_protvec_alone():
    """ProtVec counts as a baseline; judged against it alone, the other baselines get no line of their own."""
    rows = results(run("onehot", "cnn", 0.66, 0.65, 0.67), run("protvec", "cnn", 0.64, 0.63, 0.65),
                   run("lm", "cnn", 0.66, 0.655, 0.665))
    assert "does NOT beat onehot" in verdicts(rows)[0] and len(verdicts(rows)) == 1
    lines = verdicts(rows, ("protvec",))
    assert len(lines) == 1 and "beats protvec (95% CIs do not overlap)" in lines[0]
    assert "best baseline protvec: 64.0" in lines[0]
