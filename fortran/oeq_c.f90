! oeq_c.f90: GENERATED from include/oeq.h by bindings/genabi.py. Do not edit;
! run `python3 bindings/genabi.py` instead.
!
! The raw Fortran 2003 interface of liboeq: every enum value and flag as a
! parameter and one bind(C) interface per function of oeq.h. Strings must be
! NUL-terminated (trim(s)//c_null_char); arrays go as type(c_ptr) (c_loc,
! c_devloc, or a device address); rows are C row-major. Module `oeq` is the
! friendly layer on top of this one.
module oeq_c
  use, intrinsic :: iso_c_binding
  implicit none
  public

  ! oeq_status_t
  integer(c_int), parameter :: OEQ_SUCCESS = 0
  integer(c_int), parameter :: OEQ_ERROR_INVALID_ARGUMENT = 1
  integer(c_int), parameter :: OEQ_ERROR_PARSE = 2
  integer(c_int), parameter :: OEQ_ERROR_INVALID_PROBLEM = 3
  integer(c_int), parameter :: OEQ_ERROR_UNSUPPORTED = 4
  integer(c_int), parameter :: OEQ_ERROR_BACKEND_UNAVAILABLE = 5
  integer(c_int), parameter :: OEQ_ERROR_COMPILE = 6
  integer(c_int), parameter :: OEQ_ERROR_DEVICE = 7
  integer(c_int), parameter :: OEQ_ERROR_OUT_OF_MEMORY = 8
  integer(c_int), parameter :: OEQ_ERROR_IO = 9
  integer(c_int), parameter :: OEQ_ERROR_INTERNAL = 10

  ! oeq_mode_t
  integer(c_int), parameter :: OEQ_MODE_UVW = 0
  integer(c_int), parameter :: OEQ_MODE_UVU = 1
  integer(c_int), parameter :: OEQ_MODE_UVV = 2
  integer(c_int), parameter :: OEQ_MODE_UUW = 3
  integer(c_int), parameter :: OEQ_MODE_UUU = 4
  integer(c_int), parameter :: OEQ_MODE_UVUV = 5

  ! oeq_dtype_t
  integer(c_int), parameter :: OEQ_FLOAT32 = 0
  integer(c_int), parameter :: OEQ_FLOAT64 = 1

  ! oeq_backend_t
  integer(c_int), parameter :: OEQ_BACKEND_AUTO = 0
  integer(c_int), parameter :: OEQ_BACKEND_CPU = 1
  integer(c_int), parameter :: OEQ_BACKEND_CUDA = 2
  integer(c_int), parameter :: OEQ_BACKEND_HIP = 3

  ! oeq_irrep_norm_t
  integer(c_int), parameter :: OEQ_IRREP_NORM_COMPONENT = 0
  integer(c_int), parameter :: OEQ_IRREP_NORM_NORM = 1
  integer(c_int), parameter :: OEQ_IRREP_NORM_NONE = 2

  ! oeq_path_norm_t
  integer(c_int), parameter :: OEQ_PATH_NORM_ELEMENT = 0
  integer(c_int), parameter :: OEQ_PATH_NORM_PATH = 1
  integer(c_int), parameter :: OEQ_PATH_NORM_NONE = 2

  ! oeq_layout_t
  integer(c_int), parameter :: OEQ_LAYOUT_MUL_IR = 0
  integer(c_int), parameter :: OEQ_LAYOUT_IR_MUL = 1

  ! macros of oeq.h
  integer(c_int), parameter :: OEQ_ABI_VERSION_HEADER = 1
  integer(c_int32_t), parameter :: OEQ_CONV_DETERMINISTIC = 1_c_int32_t
  integer(c_int32_t), parameter :: OEQ_CONV_KAHAN = 2_c_int32_t
  integer(c_int32_t), parameter :: OEQ_INDEX_INT64 = 4_c_int32_t

  interface
    function oeq_abi_version() bind(C, name="oeq_abi_version") result(res)
      import
      implicit none
      integer(c_int) :: res
    end function oeq_abi_version
    function oeq_version() bind(C, name="oeq_version") result(res)
      import
      implicit none
      type(c_ptr) :: res
    end function oeq_version
    function oeq_status_string(s) bind(C, name="oeq_status_string") result(res)
      import
      implicit none
      integer(c_int), value :: s
      type(c_ptr) :: res
    end function oeq_status_string
    function oeq_last_error() bind(C, name="oeq_last_error") result(res)
      import
      implicit none
      type(c_ptr) :: res
    end function oeq_last_error
    function oeq_backend_available(b) bind(C, name="oeq_backend_available") result(res)
      import
      implicit none
      integer(c_int), value :: b
      integer(c_int) :: res
    end function oeq_backend_available
    function oeq_problem_create(irreps_in1, irreps_in2, irreps_out, out) bind(C, &
        name="oeq_problem_create") result(res)
      import
      implicit none
      character(kind=c_char), dimension(*), intent(in) :: irreps_in1
      character(kind=c_char), dimension(*), intent(in) :: irreps_in2
      character(kind=c_char), dimension(*), intent(in) :: irreps_out
      type(c_ptr), intent(out) :: out
      integer(c_int) :: res
    end function oeq_problem_create
    function oeq_problem_add_instruction(p, i_in1, i_in2, i_out, mode, has_weight, &
        path_weight) bind(C, name="oeq_problem_add_instruction") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: i_in1
      integer(c_int), value :: i_in2
      integer(c_int), value :: i_out
      integer(c_int), value :: mode
      integer(c_int), value :: has_weight
      real(c_double), value :: path_weight
      integer(c_int) :: res
    end function oeq_problem_add_instruction
    function oeq_problem_set_dtypes(p, irrep_dtype, weight_dtype) bind(C, &
        name="oeq_problem_set_dtypes") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: irrep_dtype
      integer(c_int), value :: weight_dtype
      integer(c_int) :: res
    end function oeq_problem_set_dtypes
    function oeq_problem_set_shared_weights(p, shared) bind(C, &
        name="oeq_problem_set_shared_weights") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: shared
      integer(c_int) :: res
    end function oeq_problem_set_shared_weights
    function oeq_problem_set_normalization(p, irrep, path) bind(C, &
        name="oeq_problem_set_normalization") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: irrep
      integer(c_int), value :: path
      integer(c_int) :: res
    end function oeq_problem_set_normalization
    function oeq_problem_set_layout(p, layout) bind(C, name="oeq_problem_set_layout") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: layout
      integer(c_int) :: res
    end function oeq_problem_set_layout
    function oeq_problem_set_variances(p, in1_var, in2_var, out_var) bind(C, &
        name="oeq_problem_set_variances") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      type(c_ptr), value :: in1_var
      type(c_ptr), value :: in2_var
      type(c_ptr), value :: out_var
      integer(c_int) :: res
    end function oeq_problem_set_variances
    function oeq_problem_weight_numel(p, out) bind(C, name="oeq_problem_weight_numel") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int64_t), intent(out) :: out
      integer(c_int) :: res
    end function oeq_problem_weight_numel
    function oeq_problem_dims(p, in1, in2, out) bind(C, name="oeq_problem_dims") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int64_t), intent(out) :: in1
      integer(c_int64_t), intent(out) :: in2
      integer(c_int64_t), intent(out) :: out
      integer(c_int) :: res
    end function oeq_problem_dims
    function oeq_problem_dtypes(p, irrep_dtype, weight_dtype) bind(C, &
        name="oeq_problem_dtypes") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), intent(out) :: irrep_dtype
      integer(c_int), intent(out) :: weight_dtype
      integer(c_int) :: res
    end function oeq_problem_dtypes
    function oeq_problem_shared_weights(p, shared) bind(C, &
        name="oeq_problem_shared_weights") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), intent(out) :: shared
      integer(c_int) :: res
    end function oeq_problem_shared_weights
    function oeq_problem_irreps_count(p, in1, in2, out) bind(C, &
        name="oeq_problem_irreps_count") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int64_t), intent(out) :: in1
      integer(c_int64_t), intent(out) :: in2
      integer(c_int64_t), intent(out) :: out
      integer(c_int) :: res
    end function oeq_problem_irreps_count
    function oeq_problem_describe(p, buf, len, needed) bind(C, &
        name="oeq_problem_describe") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      type(c_ptr), value :: buf
      integer(c_size_t), value :: len
      integer(c_size_t), intent(out) :: needed
      integer(c_int) :: res
    end function oeq_problem_describe
    subroutine oeq_problem_destroy(p) bind(C, name="oeq_problem_destroy")
      import
      implicit none
      type(c_ptr), value :: p
    end subroutine oeq_problem_destroy
    function oeq_problem_create_fully_connected(in1, in2, out, p) bind(C, &
        name="oeq_problem_create_fully_connected") result(res)
      import
      implicit none
      character(kind=c_char), dimension(*), intent(in) :: in1
      character(kind=c_char), dimension(*), intent(in) :: in2
      character(kind=c_char), dimension(*), intent(in) :: out
      type(c_ptr), intent(out) :: p
      integer(c_int) :: res
    end function oeq_problem_create_fully_connected
    function oeq_problem_create_channelwise(in1, in2, filter_out, p) bind(C, &
        name="oeq_problem_create_channelwise") result(res)
      import
      implicit none
      character(kind=c_char), dimension(*), intent(in) :: in1
      character(kind=c_char), dimension(*), intent(in) :: in2
      character(kind=c_char), dimension(*), intent(in) :: filter_out
      type(c_ptr), intent(out) :: p
      integer(c_int) :: res
    end function oeq_problem_create_channelwise
    function oeq_plan_create_tp(p, b, device, out) bind(C, name="oeq_plan_create_tp") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: b
      integer(c_int), value :: device
      type(c_ptr), intent(out) :: out
      integer(c_int) :: res
    end function oeq_plan_create_tp
    function oeq_plan_create_conv(p, b, device, flags, out) bind(C, &
        name="oeq_plan_create_conv") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: b
      integer(c_int), value :: device
      integer(c_int32_t), value :: flags
      type(c_ptr), intent(out) :: out
      integer(c_int) :: res
    end function oeq_plan_create_conv
    function oeq_plan_backend(plan, out) bind(C, name="oeq_plan_backend") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int), intent(out) :: out
      integer(c_int) :: res
    end function oeq_plan_backend
    subroutine oeq_plan_destroy(plan) bind(C, name="oeq_plan_destroy")
      import
      implicit none
      type(c_ptr), value :: plan
    end subroutine oeq_plan_destroy
    function oeq_tp_forward(plan, batch, x, y, w, z, stream) bind(C, &
        name="oeq_tp_forward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: batch
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      type(c_ptr), value :: w
      type(c_ptr), value :: z
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_tp_forward
    function oeq_tp_backward(plan, batch, x, y, w, dz, dx, dy, dw, stream) bind(C, &
        name="oeq_tp_backward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: batch
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      type(c_ptr), value :: w
      type(c_ptr), value :: dz
      type(c_ptr), value :: dx
      type(c_ptr), value :: dy
      type(c_ptr), value :: dw
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_tp_backward
    function oeq_conv_workspace_size(plan, x_rows, z_rows, edges, bytes) bind(C, &
        name="oeq_conv_workspace_size") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: x_rows
      integer(c_int64_t), value :: z_rows
      integer(c_int64_t), value :: edges
      integer(c_size_t), intent(out) :: bytes
      integer(c_int) :: res
    end function oeq_conv_workspace_size
    function oeq_conv_forward(plan, x_rows, z_rows, edges, x, y, w, rows, cols, sender_perm, z, &
        workspace, workspace_bytes, stream) bind(C, name="oeq_conv_forward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: x_rows
      integer(c_int64_t), value :: z_rows
      integer(c_int64_t), value :: edges
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      type(c_ptr), value :: w
      type(c_ptr), value :: rows
      type(c_ptr), value :: cols
      type(c_ptr), value :: sender_perm
      type(c_ptr), value :: z
      type(c_ptr), value :: workspace
      integer(c_size_t), value :: workspace_bytes
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_conv_forward
    function oeq_conv_backward(plan, x_rows, z_rows, edges, x, y, w, dz, rows, cols, sender_perm, &
        dx, dy, dw, workspace, workspace_bytes, stream) bind(C, &
        name="oeq_conv_backward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: x_rows
      integer(c_int64_t), value :: z_rows
      integer(c_int64_t), value :: edges
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      type(c_ptr), value :: w
      type(c_ptr), value :: dz
      type(c_ptr), value :: rows
      type(c_ptr), value :: cols
      type(c_ptr), value :: sender_perm
      type(c_ptr), value :: dx
      type(c_ptr), value :: dy
      type(c_ptr), value :: dw
      type(c_ptr), value :: workspace
      integer(c_size_t), value :: workspace_bytes
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_conv_backward
    function oeq_tp_double_backward_workspace_size(plan, batch, bytes) bind(C, &
        name="oeq_tp_double_backward_workspace_size") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: batch
      integer(c_size_t), intent(out) :: bytes
      integer(c_int) :: res
    end function oeq_tp_double_backward_workspace_size
    function oeq_tp_double_backward(plan, batch, x, y, w, dz, ddx, ddy, ddw, gx, gy, gw, gdz, &
        workspace, workspace_bytes, stream) bind(C, name="oeq_tp_double_backward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: batch
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      type(c_ptr), value :: w
      type(c_ptr), value :: dz
      type(c_ptr), value :: ddx
      type(c_ptr), value :: ddy
      type(c_ptr), value :: ddw
      type(c_ptr), value :: gx
      type(c_ptr), value :: gy
      type(c_ptr), value :: gw
      type(c_ptr), value :: gdz
      type(c_ptr), value :: workspace
      integer(c_size_t), value :: workspace_bytes
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_tp_double_backward
    function oeq_conv_double_backward_workspace_size(plan, x_rows, z_rows, edges, bytes) bind(C, &
        name="oeq_conv_double_backward_workspace_size") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: x_rows
      integer(c_int64_t), value :: z_rows
      integer(c_int64_t), value :: edges
      integer(c_size_t), intent(out) :: bytes
      integer(c_int) :: res
    end function oeq_conv_double_backward_workspace_size
    function oeq_conv_double_backward(plan, x_rows, z_rows, edges, x, y, w, dz, ddx, ddy, ddw, &
        rows, cols, sender_perm, gx, gy, gw, gdz, workspace, workspace_bytes, stream) bind(C, &
        name="oeq_conv_double_backward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: x_rows
      integer(c_int64_t), value :: z_rows
      integer(c_int64_t), value :: edges
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      type(c_ptr), value :: w
      type(c_ptr), value :: dz
      type(c_ptr), value :: ddx
      type(c_ptr), value :: ddy
      type(c_ptr), value :: ddw
      type(c_ptr), value :: rows
      type(c_ptr), value :: cols
      type(c_ptr), value :: sender_perm
      type(c_ptr), value :: gx
      type(c_ptr), value :: gy
      type(c_ptr), value :: gw
      type(c_ptr), value :: gdz
      type(c_ptr), value :: workspace
      integer(c_size_t), value :: workspace_bytes
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_conv_double_backward
    function oeq_problem_create_symmetric_contraction(irreps_in_per_channel, irreps_out, &
        correlation, num_elements, channels, out) bind(C, &
        name="oeq_problem_create_symmetric_contraction") result(res)
      import
      implicit none
      character(kind=c_char), dimension(*), intent(in) :: irreps_in_per_channel
      character(kind=c_char), dimension(*), intent(in) :: irreps_out
      integer(c_int), value :: correlation
      integer(c_int64_t), value :: num_elements
      integer(c_int64_t), value :: channels
      type(c_ptr), intent(out) :: out
      integer(c_int) :: res
    end function oeq_problem_create_symmetric_contraction
    function oeq_plan_create_symmetric_contraction(p, b, device, out) bind(C, &
        name="oeq_plan_create_symmetric_contraction") result(res)
      import
      implicit none
      type(c_ptr), value :: p
      integer(c_int), value :: b
      integer(c_int), value :: device
      type(c_ptr), intent(out) :: out
      integer(c_int) :: res
    end function oeq_plan_create_symmetric_contraction
    function oeq_symcon_forward(plan, batch, x, species, w, z, stream) bind(C, &
        name="oeq_symcon_forward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: batch
      type(c_ptr), value :: x
      type(c_ptr), value :: species
      type(c_ptr), value :: w
      type(c_ptr), value :: z
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_symcon_forward
    function oeq_symcon_backward(plan, batch, x, species, w, dz, dx, dw, stream) bind(C, &
        name="oeq_symcon_backward") result(res)
      import
      implicit none
      type(c_ptr), value :: plan
      integer(c_int64_t), value :: batch
      type(c_ptr), value :: x
      type(c_ptr), value :: species
      type(c_ptr), value :: w
      type(c_ptr), value :: dz
      type(c_ptr), value :: dx
      type(c_ptr), value :: dw
      type(c_ptr), value :: stream
      integer(c_int) :: res
    end function oeq_symcon_backward
  end interface
end module oeq_c
