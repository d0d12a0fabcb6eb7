"""The 18 TAIL tasks (arXiv 2507.13332) in 8 algorithm classes."""

from s1data.bootcamp.tail.backtracking import PermutationsCombinations
from s1data.bootcamp.tail.divide_conquer import BinarySearch
from s1data.bootcamp.tail.dp import Knapsack, Levenshtein, LongestCommonSubsequence
from s1data.bootcamp.tail.enumeration import CountLetters, LinearSolutions, PrimesInRange
from s1data.bootcamp.tail.greedy import Dijkstra, Scheduling
from s1data.bootcamp.tail.iteration import PopulationGrowth
from s1data.bootcamp.tail.recursion import Derangement, Substrings
from s1data.bootcamp.tail.simulation import Addition, BubbleSort, Compare, Division, WordFlip

TAIL_TASKS = (
    Addition, Division, BubbleSort, WordFlip, Compare,
    Substrings, Derangement,
    PopulationGrowth,
    Dijkstra, Scheduling,
    CountLetters, LinearSolutions, PrimesInRange,
    Knapsack, LongestCommonSubsequence, Levenshtein,
    BinarySearch,
    PermutationsCombinations,
)
