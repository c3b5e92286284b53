"""Mocap readers (BVH, ASF/AMC), forward kinematics, mapping to the H36M-17 layout, resampling."""
