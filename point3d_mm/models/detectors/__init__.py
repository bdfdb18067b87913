from .point3d import Point3D

__all__ = ['Point3D']
