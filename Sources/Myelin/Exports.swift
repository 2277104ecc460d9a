// The kernels and the bundle format live in MyelinShared (compiled into the runtime too);
// users of Myelin see them as part of this module.
@_exported import MyelinShared
