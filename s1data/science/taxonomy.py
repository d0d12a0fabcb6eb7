"""The science taxonomy (Intern-S1's six domains) and the lexicons the silver labeller matches.

`TAXONOMY[domain][subdomain]` is a one-line description of the sub-domain. `LEXICONS[domain][subdomain]` is a list
of lower-case terms (one to three words) that are specific to the sub-domain: words that are common outside science
("energy", "cell phone", "power", "field", "function") are left out on purpose, because a lexicon hit is evidence.
`LABELS` is the flat label list the classifier predicts: `"none"` (not science) first, then `domain/subdomain`.
"""

from __future__ import annotations

TAXONOMY: dict[str, dict[str, str]] = {
    "math": {
        "algebra": "groups, rings, fields, linear algebra, representation theory",
        "analysis": "real and complex analysis, calculus, differential equations, functional analysis",
        "geometry_topology": "geometry, manifolds, topology, algebraic geometry",
        "probability_statistics": "probability theory, stochastic processes, statistical inference",
        "discrete_math": "number theory, combinatorics, graph theory, logic",
    },
    "physics": {
        "mechanics": "classical mechanics, fluid dynamics, continuum mechanics",
        "electromagnetism_optics": "electrodynamics, optics, photonics, lasers",
        "quantum_physics": "quantum mechanics, quantum information, atomic physics",
        "thermo_statistical": "thermodynamics, statistical mechanics, condensed-matter theory",
        "astrophysics_cosmology": "astronomy, astrophysics, cosmology, gravitation",
        "nuclear_particle": "nuclear physics, particle physics, high-energy physics",
    },
    "chemistry": {
        "organic_chemistry": "organic synthesis, reaction mechanisms, natural products",
        "inorganic_chemistry": "coordination chemistry, main-group and transition-metal chemistry",
        "physical_chemistry": "kinetics, chemical thermodynamics, electrochemistry, spectroscopy theory",
        "analytical_chemistry": "chromatography, mass spectrometry, titration, instrumental analysis",
    },
    "life_science": {
        "molecular_genetics": "genetics, genomics, molecular biology, gene regulation",
        "cell_biology": "cell structure, organelles, cell cycle, signalling",
        "ecology_evolution": "ecology, evolution, biodiversity, population biology",
        "neuroscience": "neurons, brain, neural circuits, cognition",
        "physiology_medicine": "physiology, pharmacology, immunology, clinical medicine",
    },
    "earth_science": {
        "geology": "rocks, minerals, tectonics, stratigraphy, petroleum geology",
        "atmosphere_climate": "meteorology, climate science, atmospheric chemistry",
        "oceans_hydrology": "oceanography, hydrology, glaciology",
        "geophysics": "seismology, geomagnetism, geodesy, volcanology",
    },
    "materials": {
        "metals_alloys": "metallurgy, alloys, microstructure, mechanical properties",
        "polymers_soft_matter": "polymers, colloids, gels, liquid crystals",
        "electronic_materials": "semiconductors, dielectrics, superconductors, magnetic materials",
        "ceramics_composites": "ceramics, glasses, composites, coatings",
        "nanomaterials": "nanoparticles, 2D materials, nanotubes, thin films",
    },
}

DOMAINS: tuple[str, ...] = tuple(TAXONOMY)

LABELS: tuple[str, ...] = ("none",) + tuple(f"{d}/{s}" for d, subs in TAXONOMY.items() for s in subs)

LEXICONS: dict[str, dict[str, list[str]]] = {
    "math": {
        "algebra": [
            "eigenvalue", "eigenvector", "homomorphism", "isomorphism", "abelian group", "group theory", "subgroup",
            "normal subgroup", "quotient group", "polynomial ring", "field extension", "galois",
            "vector space", "linear map", "determinant", "invertible",
            "lie algebra", "representation theory", "commutative ring", "tensor product",
            "orthogonal matrix", "characteristic polynomial", "jordan normal form", "automorphism",
        ],
        "analysis": [
            "derivative", "integral", "integrable", "differentiable", "continuous function", "convergent",
            "converges", "taylor series", "fourier transform", "laplace transform", "banach space",
            "hilbert space", "lebesgue", "measure theory", "differential equation", "partial differential equation",
            "ordinary differential equation", "holomorphic", "analytic function", "residue theorem",
            "supremum", "infimum", "cauchy sequence", "uniform convergence", "riemann integral", "antiderivative",
            "boundary value problem",
        ],
        "geometry_topology": [
            "manifold", "topology", "topological space", "homotopy", "homology", "cohomology", "fundamental group",
            "riemannian", "curvature", "geodesic", "euclidean geometry", "non-euclidean", "hyperbolic geometry",
            "projective", "algebraic variety", "algebraic geometry", "diffeomorphism", "homeomorphism",
            "connected space", "simplicial complex", "triangle inequality", "congruent", "polyhedron",
            "differential form", "tangent space", "fiber bundle", "knot theory", "euler characteristic",
        ],
        "probability_statistics": [
            "probability", "random variable", "expected value", "expectation", "variance", "standard deviation",
            "probability distribution", "gaussian", "normal distribution", "poisson distribution", "binomial",
            "bayes theorem", "bayesian", "likelihood", "maximum likelihood", "estimator", "confidence interval",
            "hypothesis test", "p-value", "regression", "stochastic process", "markov chain", "martingale",
            "central limit theorem", "law of large numbers", "brownian motion", "covariance", "posterior",
            "prior distribution",
        ],
        "discrete_math": [
            "prime number", "primes", "divisible", "divisor", "modular arithmetic", "congruence", "gcd",
            "diophantine", "number theory", "combinatorics", "binomial coefficient",
            "graph theory", "vertex", "vertices", "spanning tree", "chromatic number", "pigeonhole",
            "lemma", "theorem", "corollary", "recurrence relation", "generating function",
            "bijection", "countable", "set theory",
        ],
    },
    "physics": {
        "mechanics": [
            "newton's laws", "momentum", "angular momentum", "torque", "kinetic energy", "potential energy",
            "acceleration", "velocity", "inertia", "friction", "lagrangian", "hamiltonian", "oscillator",
            "harmonic oscillator", "pendulum", "projectile", "centripetal", "moment of inertia", "rigid body",
            "navier-stokes", "fluid dynamics", "viscosity", "reynolds number", "turbulence", "bernoulli",
            "conservation of momentum", "elastic collision", "newtons", "free body diagram", "equations of motion",
        ],
        "electromagnetism_optics": [
            "electric field", "magnetic field", "maxwell's equations", "electromagnetic", "coulomb", "capacitor",
            "inductance", "voltage", "ohm's law", "faraday", "lorentz force", "electromagnetic wave", "refraction",
            "diffraction", "interference", "wavelength", "polarization", "laser", "photon", "optics",
            "refractive index", "waveguide", "photonic", "dielectric constant", "permittivity", "permeability",
            "gauss's law", "electrostatic", "optical fiber",
        ],
        "quantum_physics": [
            "quantum", "wave function", "wavefunction", "schrodinger equation", "schrödinger", "hamiltonian operator",
            "eigenstate", "superposition", "entanglement", "qubit", "quantum computing", "uncertainty principle",
            "heisenberg", "pauli", "fermion", "boson", "hilbert space", "planck constant", "quantization",
            "tunneling", "decoherence", "bell inequality", "quantum field theory", "dirac equation", "orbital",
            "energy levels", "hydrogen atom", "bose-einstein", "zero-point",
        ],
        "thermo_statistical": [
            "thermodynamics", "entropy", "enthalpy", "free energy", "partition function", "boltzmann",
            "statistical mechanics", "heat capacity", "specific heat", "carnot", "heat engine", "adiabatic",
            "isothermal", "ideal gas", "equation of state", "phase transition", "critical point", "ising model",
            "canonical ensemble", "temperature gradient", "thermal conductivity", "kelvin",
            "second law of thermodynamics", "first law of thermodynamics", "heat transfer", "mean free path",
            "fermi-dirac", "chemical potential",
        ],
        "astrophysics_cosmology": [
            "galaxy", "galaxies", "black hole", "neutron star", "supernova", "cosmology", "cosmic microwave background",
            "dark matter", "dark energy", "redshift", "hubble", "big bang", "exoplanet", "stellar", "star formation",
            "white dwarf", "gravitational wave", "general relativity", "spacetime", "light-year", "parsec",
            "telescope", "nebula", "accretion disk", "pulsar", "quasar", "solar wind", "planetary",
            "interstellar",
        ],
        "nuclear_particle": [
            "nucleus", "nuclei", "proton", "neutron", "quark", "gluon", "lepton", "neutrino", "muon", "higgs boson",
            "standard model", "particle accelerator", "collider", "lhc", "cross section", "radioactive",
            "half-life", "isotope", "fission", "fusion", "beta decay", "alpha particle", "gamma ray", "hadron",
            "electron volt", "gev", "mev", "feynman diagram", "quantum chromodynamics",
        ],
    },
    "chemistry": {
        "organic_chemistry": [
            "alkane", "alkene", "alkyne", "benzene", "aromatic", "carbonyl", "aldehyde", "ketone", "carboxylic acid",
            "ester", "amide", "amine", "functional group", "nucleophile", "electrophile",
            "nucleophilic substitution", "sn2", "sn1", "grignard", "diels-alder", "stereochemistry", "chirality",
            "enantiomer", "racemic", "synthesis", "reagent", "hydroxyl", "phenyl",
            "organic synthesis",
        ],
        "inorganic_chemistry": [
            "transition metal", "coordination complex", "ligand", "oxidation state", "crystal field", "chelate",
            "lanthanide", "actinide", "metal complex", "valence electrons", "periodic table", "halogen",
            "noble gas", "alkali metal", "alkaline earth", "sulfide", "chloride", "nitrate", "sulfate",
            "ionic compound", "covalent bond", "lewis acid", "lewis base", "coordination number", "octahedral",
            "tetrahedral", "organometallic", "redox",
        ],
        "physical_chemistry": [
            "reaction rate", "rate constant", "activation energy", "arrhenius", "equilibrium constant",
            "chemical equilibrium", "le chatelier", "gibbs free energy", "electrochemistry", "electrode",
            "electrolyte", "galvanic cell", "nernst equation", "molar", "molarity", "stoichiometry",
            "buffer solution", "titrant", "spectroscopy", "absorbance", "beer-lambert", "quantum chemistry",
            "molecular orbital", "hybridization", "bond energy", "reaction kinetics", "catalysis", "solubility",
        ],
        "analytical_chemistry": [
            "chromatography", "hplc", "gas chromatography", "mass spectrometry", "mass spectrum", "nmr",
            "nuclear magnetic resonance", "infrared spectroscopy", "uv-vis", "titration", "calibration curve",
            "detection limit", "limit of detection", "analyte", "standard solution", "spectrometer",
            "retention time", "elution", "mobile phase", "stationary phase", "chemical shift", "ppm",
            "x-ray diffraction",
            "elemental analysis", "gravimetric", "potentiometric", "sample preparation", "internal standard",
            "quantification",
        ],
    },
    "life_science": {
        "molecular_genetics": [
            "dna", "rna", "mrna", "gene", "genes", "genome", "genomic", "chromosome", "allele", "mutation",
            "transcription", "translation", "protein synthesis", "codon", "nucleotide", "base pair", "crispr",
            "pcr", "sequencing", "gene expression", "promoter", "epigenetic", "methylation", "heredity",
            "genotype", "phenotype", "recombinant", "plasmid", "polymerase", "ribosome",
        ],
        "cell_biology": [
            "cell membrane", "organelle", "mitochondria", "mitochondrion", "nucleus of the cell", "cytoplasm",
            "endoplasmic reticulum", "golgi", "lysosome", "cytoskeleton", "mitosis", "meiosis", "cell cycle",
            "apoptosis", "cell division", "stem cell", "stem cells", "eukaryotic", "prokaryotic", "chloroplast",
            "atp", "signal transduction", "receptor", "membrane protein", "vesicle", "cell culture", "cytokine",
            "enzyme", "enzymes", "metabolism",
        ],
        "ecology_evolution": [
            "ecosystem", "ecosystems", "biodiversity", "species", "natural selection", "evolution", "evolutionary",
            "phylogenetic", "phylogeny", "speciation", "population dynamics", "predator", "prey", "food web",
            "habitat", "darwin", "adaptation", "invasive species", "trophic", "symbiosis",
            "extinction", "fossil record", "genetic drift", "biome", "pollination", "photosynthesis",
            "carrying capacity",
        ],
        "neuroscience": [
            "neuron", "neurons", "synapse", "synaptic", "neurotransmitter", "dopamine", "serotonin", "axon",
            "dendrite", "action potential", "cortex", "hippocampus", "amygdala", "cerebellum", "brain",
            "neural circuit", "neuroplasticity", "glia", "fmri", "eeg", "cognition", "cognitive", "memory formation",
            "spinal cord", "nervous system", "neurodegenerative", "alzheimer", "parkinson", "neural activity",
            "prefrontal",
        ],
        "physiology_medicine": [
            "immune system", "antibody", "antibodies", "antigen", "vaccine", "pathogen", "bacteria", "bacterial",
            "virus", "viral", "infection", "inflammation", "clinical trial", "placebo", "pharmacology",
            "pharmacokinetics", "diagnosis", "tumor", "cancer", "insulin",
            "hormone", "blood pressure", "cardiovascular", "physiology", "epidemiology", "metabolic",
        ],
    },
    "earth_science": {
        "geology": [
            "geology", "geological", "sedimentary", "igneous", "metamorphic", "mineral", "minerals", "quartz",
            "feldspar", "basalt", "granite", "limestone", "sandstone", "shale", "stratigraphy", "strata",
            "plate tectonics", "tectonic", "subduction", "erosion", "sediment", "fossil", "crust",
            "mantle", "magma", "crude oil", "petroleum", "hydrocarbon reservoir", "geologic time",
        ],
        "atmosphere_climate": [
            "climate", "climate change", "global warming", "greenhouse gas", "greenhouse effect", "atmosphere",
            "atmospheric", "troposphere", "stratosphere", "ozone", "aerosol", "precipitation", "humidity",
            "meteorology", "weather forecast", "jet stream", "monsoon", "el nino", "radiative forcing",
            "carbon dioxide", "methane emissions", "climate model", "paleoclimate", "ice age", "albedo",
            "air mass", "cyclone", "convection", "barometric pressure", "temperature anomaly",
        ],
        "oceans_hydrology": [
            "ocean", "oceanography", "ocean current", "thermohaline", "salinity", "sea level", "sea ice",
            "glacier", "glaciers", "ice sheet", "groundwater", "aquifer", "watershed", "river discharge",
            "hydrology", "hydrological", "runoff", "evaporation", "water cycle", "tides", "upwelling",
            "coral reef", "seafloor", "continental shelf", "permafrost", "snowpack", "estuary", "ocean acidification",
            "streamflow", "catchment",
        ],
        "geophysics": [
            "earthquake", "earthquakes", "seismic", "seismology", "seismic wave", "richter",
            "epicenter", "volcano", "volcanic", "eruption", "lava", "geomagnetic", "magnetosphere", "geodesy",
            "gravity anomaly", "geothermal", "core-mantle", "lithosphere", "asthenosphere", "tsunami",
            "p-wave", "s-wave", "seismometer", "paleomagnetism", "gps measurements", "crustal deformation",
            "mantle convection", "geophysical", "inner core",
        ],
    },
    "materials": {
        "metals_alloys": [
            "alloy", "alloys", "steel", "stainless steel", "aluminum alloy", "titanium alloy", "metallurgy",
            "microstructure", "grain boundary", "grain size", "dislocation", "yield strength", "tensile strength",
            "ductility", "hardness", "annealing", "quenching", "precipitation hardening", "martensite", "austenite",
            "ferrite", "corrosion", "phase diagram", "heat treatment", "superalloy", "welding",
            "fracture toughness", "work hardening",
        ],
        "polymers_soft_matter": [
            "polymer", "polymers", "polymerization", "monomer", "copolymer", "polyethylene", "polypropylene",
            "polystyrene", "nylon", "elastomer", "thermoplastic", "thermoset", "glass transition", "crosslinking",
            "molecular weight", "viscoelastic", "rheology", "hydrogel", "colloid", "colloidal", "micelle",
            "surfactant", "liquid crystal", "soft matter", "block copolymer", "chain length", "biodegradable polymer",
            "epoxy", "polymer chain",
        ],
        "electronic_materials": [
            "semiconductor", "semiconductors", "band gap", "bandgap", "doping", "dopant", "silicon wafer",
            "transistor", "p-n junction", "carrier mobility", "electron mobility", "dielectric", "ferroelectric",
            "piezoelectric", "superconductor", "superconductivity", "magnetic materials", "ferromagnetic",
            "perovskite", "gallium nitride", "gallium arsenide", "thin-film transistor", "photovoltaic", "solar cell",
            "charge carriers", "valence band", "conduction band", "spintronics",
        ],
        "ceramics_composites": [
            "ceramic", "ceramics", "sintering", "alumina", "zirconia", "silicon carbide", "silicon nitride",
            "glass-ceramic", "composite", "composites", "fiber-reinforced", "carbon fiber", "matrix composite",
            "coatings", "refractory", "thermal shock", "oxide ceramic",
            "laminate", "interfacial", "densification", "powder processing", "hot pressing", "sol-gel",
            "wear resistance", "thermal barrier coating", "fiberglass",
        ],
        "nanomaterials": [
            "nanoparticle", "nanoparticles", "nanomaterial", "nanomaterials", "nanotube", "nanotubes",
            "carbon nanotube", "graphene", "nanowire", "nanowires", "quantum dot", "quantum dots", "thin film",
            "thin films", "nanostructure", "nanoscale", "2d material", "monolayer", "transition metal dichalcogenide",
            "mos2", "atomic layer deposition", "chemical vapor deposition", "self-assembly", "surface area",
            "transmission electron microscopy", "scanning electron microscopy", "afm", "nanocomposite",
        ],
    },
}


def validate_taxonomy() -> None:
    """Raise if LEXICONS and TAXONOMY disagree (a sub-domain without a lexicon, or a lexicon for an unknown one)."""
    for d, subs in TAXONOMY.items():
        if set(LEXICONS.get(d, {})) != set(subs):
            raise ValueError(f"LEXICONS[{d!r}] keys {sorted(LEXICONS.get(d, {}))} != TAXONOMY keys {sorted(subs)}")
    if set(LEXICONS) != set(TAXONOMY):
        raise ValueError(f"LEXICONS domains {sorted(LEXICONS)} != TAXONOMY domains {sorted(TAXONOMY)}")


# Weak evidence: words that science text uses all the time but that also occur outside science ("cell", "energy",
# "reaction", "rock"). Written from general knowledge of textbook vocabulary per domain (not extracted from any
# data set). In the silver rules a weak term adds a little to its domain's evidence and lowers the not-science
# confidence, but a text needs at least one strong (LEXICONS) term, a SMILES string or formula evidence to be
# labelled science: weak words alone make a text uncertain (left out of training), never science.
WEAK_TERMS: dict[str, list[str]] = {
    "math": [
        "equation", "equations", "theorem", "theorems", "proof", "prove", "proves", "proved", "lemma", "integer",
        "integers", "real numbers", "rational", "polynomial", "polynomials", "matrix", "matrices", "vector",
        "vectors", "coefficient", "coefficients", "variable", "variables", "interval", "intervals", "sequence",
        "sequences", "series", "formula", "formulas", "axis", "finite", "infinite", "infinitely", "arbitrary",
        "bounded", "asymptotic", "inequality", "inequalities", "operator", "operators", "algebraic", "numerical",
        "approximation", "convex", "subset", "subsets", "mapping", "quotient", "tangent", "radius", "parabola",
        "slope", "graph of", "limit of", "limits", "integrals", "derivatives", "function f", "functions",
        "exponential", "logarithm", "logarithmic", "trigonometric", "sine", "cosine", "dimensional", "invariant",
        "invariants", "symmetric", "polynomial time", "algorithm", "algorithms", "conjecture", "we prove",
        "we show that", "estimate", "estimates", "solutions", "parameters", "constant c", "x-axis", "y-axis",
    ],
    "physics": [
        "force", "forces", "mass", "motion", "particle", "particles", "wave", "waves", "frequency", "amplitude",
        "electron", "electrons", "atom", "atoms", "atomic", "gravity", "gravitational", "magnetic", "electric",
        "electrical", "circuit", "circuits", "resistor", "resistance", "joule", "joules", "watt", "watts",
        "newton", "oscillation", "radiation", "spectrum", "spectra", "stars", "star", "planet", "planets",
        "orbit", "orbits", "luminosity", "solar", "lens", "lenses", "mirror", "kinetic", "displacement",
        "meters per second", "m/s", "kg", "velocities", "speed of light", "vacuum",
        "energy", "energies", "thermal", "heat", "temperature", "pressure", "density", "magnitude", "emission",
        "flux", "mev", "kev", "ev", "observations", "photometric", "spectroscopic", "x-ray", "radio",
    ],
    "chemistry": [
        "molecule", "molecules", "molecular", "compound", "compounds", "reaction", "reactions", "reactant",
        "reactants", "solvent", "solute", "acid", "acids", "acidic", "base", "bases", "ph", "ion", "ions",
        "ionic", "bond", "bonds", "bonding", "oxidation", "oxygen", "hydrogen", "carbon", "nitrogen", "sodium",
        "chlorine", "mole", "moles", "mol", "grams", "concentration", "aqueous", "precipitate", "catalyst",
        "element", "elements", "gas", "gases", "liquid", "metal", "metals", "salt", "salts", "electron",
        "electrons", "atom", "atoms", "orbital", "orbitals", "proton", "protons", "equilibrium", "enthalpy",
        "heat", "temperature", "pressure", "volume", "density", "solution", "solutions", "crystal", "lattice",
        "oxide", "hydroxide", "carbonate", "chemical", "chemicals", "chemist", "chemists", "laboratory",
    ],
    "life_science": [
        "cell", "cells", "cellular", "tissue", "tissues", "organ", "organs", "organism", "organisms", "protein",
        "proteins", "blood", "muscle", "muscles", "bone", "bones", "skin", "membrane", "membranes", "microbe",
        "microbes", "microbial", "microorganism", "microorganisms", "disease", "diseases", "immune",
        "gland", "glands", "secretion", "lipid", "lipids", "glucose", "amino acid", "amino acids", "plants",
        "animals", "fungi", "yeast", "strain", "strains", "patient", "patients",
        "symptoms", "heart", "lung", "lungs", "kidney", "kidneys", "liver", "artery", "arteries", "vein", "veins",
        "nerve", "nerves", "biology", "biological", "molecule", "molecules", "infections",
        "clinical", "secrete", "secreted", "fluid", "respiratory", "digestive", "epithelial", "mammals",
        "vertebrates", "organisms", "genetic", "inherited", "offspring", "reproduction", "fertilization",
    ],
    "earth_science": [
        "rock", "rocks", "soil", "soils", "river", "rivers", "stream", "streams", "flood", "floods", "valley",
        "valleys", "mountain", "mountains", "coast", "coastal", "ice", "sea", "seas", "continent", "continents",
        "continental", "landslide", "landslides", "layer", "layers", "deposit", "deposits", "deposition",
        "crystal", "crystals", "weathering", "fault", "faults", "plate", "plates", "million years", "billion years",
        "earth's", "earth", "surface", "rainfall", "landscape", "basin", "basins", "rift", "uplift", "clay",
        "sand", "gravel", "silt", "slope", "slopes", "water table", "melting", "melt", "eruptions", "ash",
        "geologists", "geologist", "oceans", "oceanic", "atmospheric", "carbon cycle", "climate", "glacial",
    ],
    "materials": [
        "sample", "samples", "specimen", "specimens", "anode", "cathode", "electrolyte", "fuel cell",
        "fuel cells", "oxide", "oxides", "conductivity", "microscopy", "fabricated", "fabrication", "deposited",
        "substrate", "substrates", "film", "films", "porosity", "porous", "powder", "powders", "sintered", "grain",
        "grains", "phase", "phases", "crystalline", "amorphous", "annealed", "doped", "interface", "interfaces",
        "degradation", "durability", "mechanical properties", "electrochemical", "electrode", "electrodes",
        "thermal expansion", "morphology", "characterization", "characterized", "xrd", "sem", "tem", "impedance",
        "resistivity", "diffusion", "stoichiometric", "synthesized", "calcined", "microstructural", "layered",
        "coating", "strain", "stress", "fracture", "elastic", "modulus", "durable",
    ],
}
