from .tube_linker import TubeLinker, viterbi_trim

__all__ = ['TubeLinker', 'viterbi_trim']
