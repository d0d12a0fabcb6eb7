from s1data.bootcamp import REGISTRY


def test_unit_conversion_handles_affine_temperature_and_exact_factors():
    task = REGISTRY["sci_unit_conversion"]()
    assert task.verify_score("\\boxed{212}", {"value": 100, "from": "C", "to": "F", "quantity": "temperature"}) == 1.0
    assert task.verify_score("\\boxed{1.01325}", {"value": 1, "from": "atm", "to": "bar", "quantity": "pressure"}) == 1.0
    assert task.verify_score("\\boxed{1.1}", {"value": 1, "from": "atm", "to": "bar", "quantity": "pressure"}) == 0.0


def test_ideal_gas_one_mole_at_stp_occupies_about_22_4_litres():
    task = REGISTRY["sci_ideal_gas"]()
    idt = {"known": {"P": 101.325, "n": 1.0, "T": 273.15}, "unknown": "V"}
    assert task.verify_score("\\boxed{22.41}", idt) == 1.0
    assert task.verify_score("\\boxed{24.5}", idt) == 0.0


def test_crystal_density_of_copper_is_about_8_9():
    task = REGISTRY["sci_crystal_density"]()
    idt = {"compound": "Cu", "M": 63.546, "Z": 4, "a": 3.615, "b": 3.615, "c": 3.615, "lattice": "cubic"}
    assert abs(float(task.solve(idt).answer) - 8.93) < 0.01


def test_scientific_notation_answers_are_parsed():
    task = REGISTRY["sci_unit_conversion"]()
    idt = {"value": 1, "from": "kWh", "to": "J", "quantity": "energy"}
    for ans in ("3.6e6", "3.6\\times 10^{6}", "3600000"):
        assert task.verify_score(f"\\boxed{{{ans}}}", idt) == 1.0, ans
