from .time_wise_attention import TimeWiseAttention

__all__ = ['TimeWiseAttention']
