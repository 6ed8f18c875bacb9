import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    return (mo,)


@app.cell
def _(mo):
    mo.md("""
    # Penguins

    A dozen penguins from the Palmer Archipelago (a sample of the
    [palmerpenguins](https://allisonhorst.github.io/palmerpenguins/) data),
    kept inline so this notebook needs nothing but marimo.
    """)
    return


@app.cell
def _():
    penguins = [
        {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.1, "flipper_length_mm": 181, "body_mass_g": 3750},
        {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.5, "flipper_length_mm": 186, "body_mass_g": 3800},
        {"species": "Adelie", "island": "Biscoe", "bill_length_mm": 37.8, "flipper_length_mm": 174, "body_mass_g": 3400},
        {"species": "Adelie", "island": "Dream", "bill_length_mm": 39.5, "flipper_length_mm": 178, "body_mass_g": 3250},
        {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 46.5, "flipper_length_mm": 192, "body_mass_g": 3500},
        {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 50.0, "flipper_length_mm": 196, "body_mass_g": 3900},
        {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 51.3, "flipper_length_mm": 193, "body_mass_g": 3650},
        {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 45.4, "flipper_length_mm": 188, "body_mass_g": 3525},
        {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 46.1, "flipper_length_mm": 211, "body_mass_g": 4500},
        {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 50.0, "flipper_length_mm": 230, "body_mass_g": 5700},
        {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 48.7, "flipper_length_mm": 210, "body_mass_g": 4450},
        {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 50.0, "flipper_length_mm": 218, "body_mass_g": 5700},
    ]
    return (penguins,)


@app.cell
def _(mo, penguins):
    species = mo.ui.dropdown(
        options=sorted({p["species"] for p in penguins}), value="Gentoo", label="species"
    )
    species
    return (species,)


@app.cell
def _(mo, penguins, species):
    chosen = [p for p in penguins if p["species"] == species.value]
    mo.ui.table(chosen, selection=None)
    return


@app.cell
def _(penguins):
    def mean(values):
        values = list(values)
        return round(sum(values) / len(values), 1)

    mass_by_species = {
        s: mean(p["body_mass_g"] for p in penguins if p["species"] == s)
        for s in sorted({p["species"] for p in penguins})
    }
    mass_by_species
    return


if __name__ == "__main__":
    app.run()
