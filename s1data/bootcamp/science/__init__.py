"""Science tasks verified by computation: RDKit molecules and reactions, SymPy mathematics, sequence biology,
physics and earth science with pint units, spglib crystal structures, convex-hull stability."""

from s1data.bootcamp.science.biology import BIO_TASKS
from s1data.bootcamp.science.chemistry import MOLECULE_TASKS
from s1data.bootcamp.science.materials import MATERIALS_TASKS
from s1data.bootcamp.science.mathematics import MATH_TASKS
from s1data.bootcamp.science.physics import PHYSICS_TASKS
from s1data.bootcamp.science.physics_units import PHYSICS_UNIT_TASKS
from s1data.bootcamp.science.professional import PROFESSIONAL_TASKS
from s1data.bootcamp.science.reactions import REACTION_TASKS

BREADTH_TASKS = MATH_TASKS + BIO_TASKS + PHYSICS_UNIT_TASKS + MATERIALS_TASKS + PROFESSIONAL_TASKS
SCIENCE_TASKS = tuple(MOLECULE_TASKS) + tuple(REACTION_TASKS) + tuple(PHYSICS_TASKS) + tuple(BREADTH_TASKS)
