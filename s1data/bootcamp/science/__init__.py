"""Science tasks verified by computation: RDKit molecules and reactions, unit conversion, physics, materials."""

from s1data.bootcamp.science.chemistry import MOLECULE_TASKS
from s1data.bootcamp.science.physics import PHYSICS_TASKS
from s1data.bootcamp.science.reactions import REACTION_TASKS

SCIENCE_TASKS = MOLECULE_TASKS + REACTION_TASKS + PHYSICS_TASKS
