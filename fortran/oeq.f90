! oeq.f90: the friendly Fortran layer over liboeq (module `oeq`).
!
! Derived types own the C handles (FTorch / libxc style): oeq_problem and
! oeq_plan free them in their final procedures, or earlier with %destroy().
! They cannot be copied (assignment stops the program): pass them by
! reference. Every procedure takes an optional `stat`: absent, a failure
! stops the program with the library's message (error stop); present, it
! receives the oeq_status_t value (OEQ_SUCCESS = 0) and oeq_error_message()
! returns the detail.
!
! ARRAY LAYOUT. The C ABI is row-major: x is [batch][in1_dim]. Fortran is
! column-major, so the same memory is a Fortran array x(in1_dim, batch): one
! column per row of the batch (per node / per edge). Weights are
! w(weight_numel, batch), or w(weight_numel, 1) with shared weights. The
! convolution's rows/cols/sender_perm hold C (0-based) indices, and
! instruction indices (add_instruction) are 0-based as in e3nn.
!
! Host arrays (real(c_float) or real(c_double), rank 2) are for CPU plans;
! they must match the problem's dtypes (irrep and weight dtype equal; for a
! mixed problem use the type(c_ptr) overloads). Device arrays go as
! type(c_ptr) with explicit counts: CUDA Fortran c_devloc(a), OpenACC
! `!$acc host_data use_device(a)` + c_loc(a), OpenMP
! `!$omp target data use_device_addr(a)` + c_loc(a) (fortran/examples/md_conv.f90).
!
! oeq_error_message() is module state: not thread-safe across OpenMP threads.
module oeq
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use oeq_c
  implicit none
  public
  private :: problem_create, problem_create_fc, problem_create_cw, problem_add_instruction
  private :: problem_set_dtypes, problem_set_shared_weights, problem_set_normalization
  private :: problem_set_layout, problem_set_variances, problem_weight_numel, problem_dims
  private :: problem_dtypes, problem_shared_weights, problem_irreps_count
  private :: problem_describe, problem_destroy, problem_final, problem_assign
  private :: plan_create_tp, plan_create_conv, plan_destroy, plan_final, plan_assign
  private :: plan_workspace_size, plan_setup
  private :: forward_f32, forward_f64, forward_ptr, backward_f32, backward_f64, backward_ptr
  private :: conv_forward_f32, conv_forward_f64, conv_forward_ptr
  private :: conv_backward_f32, conv_backward_f64, conv_backward_ptr
  private :: tp_forward_host, tp_backward_host, conv_forward_host, conv_backward_host
  private :: problem_create_sc, plan_create_sc, loc1_f32, loc1_f64
  private :: symcon_forward_f32, symcon_forward_f64, symcon_forward_ptr
  private :: symcon_backward_f32, symcon_backward_f64, symcon_backward_ptr
  private :: symcon_forward_host, symcon_backward_host, check_symcon_host
  private :: check_shape, check_host_plan, loc_f32, loc_f64, loci, perm_loc, c_string, fstring
  private :: finish, fail_here, report, last_message, ptr_or_null
  private :: weight_rows, c_strlen

  type :: oeq_problem
    type(c_ptr) :: handle = c_null_ptr
  contains
    procedure :: create => problem_create
    procedure :: create_fully_connected => problem_create_fc
    procedure :: create_channelwise => problem_create_cw
    procedure :: create_symmetric_contraction => problem_create_sc
    procedure :: add_instruction => problem_add_instruction
    procedure :: set_dtypes => problem_set_dtypes
    procedure :: set_shared_weights => problem_set_shared_weights
    procedure :: set_normalization => problem_set_normalization
    procedure :: set_layout => problem_set_layout
    procedure :: set_variances => problem_set_variances
    procedure :: weight_numel => problem_weight_numel
    procedure :: dims => problem_dims
    procedure :: dtypes => problem_dtypes
    procedure :: shared_weights => problem_shared_weights
    procedure :: irreps_count => problem_irreps_count
    procedure :: describe => problem_describe
    procedure :: destroy => problem_destroy
    procedure, private :: problem_assign
    generic :: assignment(=) => problem_assign
    final :: problem_final
  end type oeq_problem

  type :: oeq_plan
    type(c_ptr) :: handle = c_null_ptr
    ! Copied from the problem when the plan is made (the C plan keeps its own copy).
    integer(c_int64_t) :: x_dim = 0, y_dim = 0, z_dim = 0, weight_numel = 0
    integer(c_int) :: irrep_dtype = OEQ_FLOAT32, weight_dtype = OEQ_FLOAT32
    integer(c_int) :: backend = OEQ_BACKEND_AUTO
    integer(c_int32_t) :: flags = 0
    logical :: shared_weights = .true., is_conv = .false., is_symcon = .false.
  contains
    procedure :: create_tp => plan_create_tp
    procedure :: create_conv => plan_create_conv
    procedure :: create_symmetric_contraction => plan_create_sc
    procedure :: workspace_size => plan_workspace_size
    procedure :: destroy => plan_destroy
    procedure, private :: forward_f32, forward_f64, forward_ptr
    procedure, private :: backward_f32, backward_f64, backward_ptr
    procedure, private :: conv_forward_f32, conv_forward_f64, conv_forward_ptr
    procedure, private :: conv_backward_f32, conv_backward_f64, conv_backward_ptr
    generic :: forward => forward_f32, forward_f64, forward_ptr
    generic :: backward => backward_f32, backward_f64, backward_ptr
    generic :: conv_forward => conv_forward_f32, conv_forward_f64, conv_forward_ptr
    generic :: conv_backward => conv_backward_f32, conv_backward_f64, conv_backward_ptr
    procedure, private :: symcon_forward_f32, symcon_forward_f64, symcon_forward_ptr
    procedure, private :: symcon_backward_f32, symcon_backward_f64, symcon_backward_ptr
    generic :: symcon_forward => symcon_forward_f32, symcon_forward_f64, symcon_forward_ptr
    generic :: symcon_backward => symcon_backward_f32, symcon_backward_f64, symcon_backward_ptr
    procedure, private :: plan_assign
    generic :: assignment(=) => plan_assign
    final :: plan_final
  end type oeq_plan

  character(len=:), allocatable, save :: last_message

  interface
    function c_strlen(s) bind(C, name="strlen") result(n)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function c_strlen
  end interface

contains

  ! ------------------------------------------------------------ library

  ! Detail of the last failure seen by this module ("" if none).
  function oeq_error_message() result(msg)
    character(len=:), allocatable :: msg
    if (allocated(last_message)) then
      msg = last_message
    else
      msg = ""
    end if
  end function oeq_error_message

  function oeq_status_name(s) result(name)
    integer, intent(in) :: s
    character(len=:), allocatable :: name
    name = c_string(oeq_status_string(int(s, c_int)))
  end function oeq_status_name

  function oeq_library_version() result(v)
    character(len=:), allocatable :: v
    v = c_string(oeq_version())
  end function oeq_library_version

  function oeq_backend_is_available(b) result(ok)
    integer(c_int), intent(in) :: b
    logical :: ok
    ok = oeq_backend_available(b) /= 0
  end function oeq_backend_is_available

  ! A NUL-terminated Fortran string to a Fortran string.
  function c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: n, i
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function c_string

  ! Fortran string in: trailing blanks trimmed, NUL appended.
  function fstring(s) result(c)
    character(len=*), intent(in) :: s
    character(kind=c_char, len=:), allocatable :: c
    c = trim(s) // c_null_char
  end function fstring

  ! Status s of a C call: keeps the library's message, then reports.
  subroutine finish(s, stat)
    integer(c_int), intent(in) :: s
    integer, intent(out), optional :: stat
    if (s /= OEQ_SUCCESS) last_message = c_string(oeq_last_error())
    call report(s, stat)
  end subroutine finish

  ! An optional address argument, or c_null_ptr when it is absent.
  function ptr_or_null(p) result(q)
    type(c_ptr), intent(in), optional :: p
    type(c_ptr) :: q
    q = c_null_ptr
    if (present(p)) q = p
  end function ptr_or_null

  ! A failure found here, before C is called.
  subroutine fail_here(s, msg, stat)
    integer(c_int), intent(in) :: s
    character(len=*), intent(in) :: msg
    integer, intent(out), optional :: stat
    last_message = msg
    call report(s, stat)
  end subroutine fail_here

  subroutine report(s, stat)
    integer(c_int), intent(in) :: s
    integer, intent(out), optional :: stat
    if (present(stat)) then
      stat = int(s)
    else if (s /= OEQ_SUCCESS) then
      write(error_unit, '(a)') 'oeq: ' // oeq_status_name(int(s)) // ': ' // oeq_error_message()
      error stop
    end if
  end subroutine report

  ! ------------------------------------------------------------ problem

  subroutine problem_create(self, irreps_in1, irreps_in2, irreps_out, stat)
    class(oeq_problem), intent(inout) :: self
    character(len=*), intent(in) :: irreps_in1, irreps_in2, irreps_out
    integer, intent(out), optional :: stat
    type(c_ptr) :: h
    integer(c_int) :: s
    s = oeq_problem_create(fstring(irreps_in1), fstring(irreps_in2), fstring(irreps_out), h)
    if (s == OEQ_SUCCESS) then
      call self%destroy()
      self%handle = h
    end if
    call finish(s, stat)
  end subroutine problem_create

  subroutine problem_create_fc(self, irreps_in1, irreps_in2, irreps_out, stat)
    class(oeq_problem), intent(inout) :: self
    character(len=*), intent(in) :: irreps_in1, irreps_in2, irreps_out
    integer, intent(out), optional :: stat
    type(c_ptr) :: h
    integer(c_int) :: s
    s = oeq_problem_create_fully_connected(fstring(irreps_in1), fstring(irreps_in2), &
        fstring(irreps_out), h)
    if (s == OEQ_SUCCESS) then
      call self%destroy()
      self%handle = h
    end if
    call finish(s, stat)
  end subroutine problem_create_fc

  subroutine problem_create_cw(self, irreps_in1, irreps_in2, filter_out, stat)
    class(oeq_problem), intent(inout) :: self
    character(len=*), intent(in) :: irreps_in1, irreps_in2, filter_out
    integer, intent(out), optional :: stat
    type(c_ptr) :: h
    integer(c_int) :: s
    s = oeq_problem_create_channelwise(fstring(irreps_in1), fstring(irreps_in2), &
        fstring(filter_out), h)
    if (s == OEQ_SUCCESS) then
      call self%destroy()
      self%handle = h
    end if
    call finish(s, stat)
  end subroutine problem_create_cw

  ! MACE's symmetric contraction (README "What it computes"): x(channels * dim(irreps_in),
  ! batch), species(batch) 0-based, w(weight_numel), z(z_dim, batch). Only set_dtypes applies.
  subroutine problem_create_sc(self, irreps_in_per_channel, irreps_out, correlation, &
      num_elements, channels, stat)
    class(oeq_problem), intent(inout) :: self
    character(len=*), intent(in) :: irreps_in_per_channel, irreps_out
    integer, intent(in) :: correlation
    integer(c_int64_t), intent(in) :: num_elements, channels
    integer, intent(out), optional :: stat
    type(c_ptr) :: h
    integer(c_int) :: s
    s = oeq_problem_create_symmetric_contraction(fstring(irreps_in_per_channel), &
        fstring(irreps_out), int(correlation, c_int), num_elements, channels, h)
    if (s == OEQ_SUCCESS) then
      call self%destroy()
      self%handle = h
    end if
    call finish(s, stat)
  end subroutine problem_create_sc

  ! Indices are 0-based (e3nn's); has_weight defaults to .true., path_weight to 1.
  subroutine problem_add_instruction(self, i_in1, i_in2, i_out, mode, has_weight, path_weight, stat)
    class(oeq_problem), intent(inout) :: self
    integer, intent(in) :: i_in1, i_in2, i_out
    integer(c_int), intent(in) :: mode
    logical, intent(in), optional :: has_weight
    real(c_double), intent(in), optional :: path_weight
    integer, intent(out), optional :: stat
    integer(c_int) :: hw
    real(c_double) :: pw
    hw = 1
    pw = 1.0_c_double
    if (present(has_weight)) then
      if (.not. has_weight) hw = 0
    end if
    if (present(path_weight)) pw = path_weight
    call finish(oeq_problem_add_instruction(self%handle, int(i_in1, c_int), int(i_in2, c_int), &
        int(i_out, c_int), mode, hw, pw), stat)
  end subroutine problem_add_instruction

  subroutine problem_set_dtypes(self, irrep_dtype, weight_dtype, stat)
    class(oeq_problem), intent(inout) :: self
    integer(c_int), intent(in) :: irrep_dtype, weight_dtype
    integer, intent(out), optional :: stat
    call finish(oeq_problem_set_dtypes(self%handle, irrep_dtype, weight_dtype), stat)
  end subroutine problem_set_dtypes

  subroutine problem_set_shared_weights(self, shared, stat)
    class(oeq_problem), intent(inout) :: self
    logical, intent(in) :: shared
    integer, intent(out), optional :: stat
    integer(c_int) :: flag
    flag = 0
    if (shared) flag = 1
    call finish(oeq_problem_set_shared_weights(self%handle, flag), stat)
  end subroutine problem_set_shared_weights

  subroutine problem_set_normalization(self, irrep, path, stat)
    class(oeq_problem), intent(inout) :: self
    integer(c_int), intent(in) :: irrep, path
    integer, intent(out), optional :: stat
    call finish(oeq_problem_set_normalization(self%handle, irrep, path), stat)
  end subroutine problem_set_normalization

  subroutine problem_set_layout(self, layout, stat)
    class(oeq_problem), intent(inout) :: self
    integer(c_int), intent(in) :: layout
    integer, intent(out), optional :: stat
    call finish(oeq_problem_set_layout(self%handle, layout), stat)
  end subroutine problem_set_layout

  ! One value per irreps entry; an absent array means all ones.
  subroutine problem_set_variances(self, in1_var, in2_var, out_var, stat)
    class(oeq_problem), intent(inout) :: self
    real(c_double), intent(in), optional, target, contiguous :: in1_var(:), in2_var(:), out_var(:)
    integer, intent(out), optional :: stat
    type(c_ptr) :: p1, p2, p3
    integer(c_int64_t) :: n1, n2, n3
    integer(c_int) :: s
    p1 = c_null_ptr
    p2 = c_null_ptr
    p3 = c_null_ptr
    s = oeq_problem_irreps_count(self%handle, n1, n2, n3)
    if (s /= OEQ_SUCCESS) then
      call finish(s, stat)
      return
    end if
    if (present(in1_var)) then
      if (size(in1_var) /= n1) then
        call fail_here(OEQ_ERROR_INVALID_ARGUMENT, 'set_variances: in1_var needs one value per irreps_in1 entry', stat)
        return
      end if
      if (n1 > 0) p1 = c_loc(in1_var)
    end if
    if (present(in2_var)) then
      if (size(in2_var) /= n2) then
        call fail_here(OEQ_ERROR_INVALID_ARGUMENT, 'set_variances: in2_var needs one value per irreps_in2 entry', stat)
        return
      end if
      if (n2 > 0) p2 = c_loc(in2_var)
    end if
    if (present(out_var)) then
      if (size(out_var) /= n3) then
        call fail_here(OEQ_ERROR_INVALID_ARGUMENT, 'set_variances: out_var needs one value per irreps_out entry', stat)
        return
      end if
      if (n3 > 0) p3 = c_loc(out_var)
    end if
    call finish(oeq_problem_set_variances(self%handle, p1, p2, p3), stat)
  end subroutine problem_set_variances

  function problem_weight_numel(self, stat) result(n)
    class(oeq_problem), intent(in) :: self
    integer, intent(out), optional :: stat
    integer(c_int64_t) :: n
    n = 0
    call finish(oeq_problem_weight_numel(self%handle, n), stat)
  end function problem_weight_numel

  subroutine problem_dims(self, in1, in2, out, stat)
    class(oeq_problem), intent(in) :: self
    integer(c_int64_t), intent(out) :: in1, in2, out
    integer, intent(out), optional :: stat
    in1 = 0
    in2 = 0
    out = 0
    call finish(oeq_problem_dims(self%handle, in1, in2, out), stat)
  end subroutine problem_dims

  ! The irrep and weight dtypes (OEQ_FLOAT32 / OEQ_FLOAT64; -1 after a failure).
  subroutine problem_dtypes(self, irrep_dtype, weight_dtype, stat)
    class(oeq_problem), intent(in) :: self
    integer(c_int), intent(out) :: irrep_dtype, weight_dtype
    integer, intent(out), optional :: stat
    irrep_dtype = -1
    weight_dtype = -1
    call finish(oeq_problem_dtypes(self%handle, irrep_dtype, weight_dtype), stat)
  end subroutine problem_dtypes

  ! .true. if one weight row serves the whole batch.
  function problem_shared_weights(self, stat) result(shared)
    class(oeq_problem), intent(in) :: self
    integer, intent(out), optional :: stat
    logical :: shared
    integer(c_int) :: flag
    flag = 0
    call finish(oeq_problem_shared_weights(self%handle, flag), stat)
    shared = flag /= 0
  end function problem_shared_weights

  ! Entries of irreps_in1, irreps_in2, irreps_out ("8x0e+8x1o" has 2): the
  ! lengths set_variances takes.
  subroutine problem_irreps_count(self, in1, in2, out, stat)
    class(oeq_problem), intent(in) :: self
    integer(c_int64_t), intent(out) :: in1, in2, out
    integer, intent(out), optional :: stat
    in1 = 0
    in2 = 0
    out = 0
    call finish(oeq_problem_irreps_count(self%handle, in1, in2, out), stat)
  end subroutine problem_irreps_count

  ! The problem as JSON text.
  function problem_describe(self, stat) result(json)
    class(oeq_problem), intent(in) :: self
    integer, intent(out), optional :: stat
    character(len=:), allocatable :: json
    character(kind=c_char), allocatable, target :: buf(:)
    integer(c_size_t) :: needed, got
    integer(c_int) :: s
    integer :: i
    json = ""
    s = oeq_problem_describe(self%handle, c_null_ptr, 0_c_size_t, needed)
    if (s == OEQ_SUCCESS) then
      allocate(buf(needed + 1))
      s = oeq_problem_describe(self%handle, c_loc(buf), needed + 1, got)
      if (s == OEQ_SUCCESS) then
        json = repeat(' ', int(got))
        do i = 1, int(got)
          json(i:i) = buf(i)
        end do
      end if
    end if
    call finish(s, stat)
  end function problem_describe

  subroutine problem_destroy(self)
    class(oeq_problem), intent(inout) :: self
    call oeq_problem_destroy(self%handle)
    self%handle = c_null_ptr
  end subroutine problem_destroy

  subroutine problem_final(self)
    type(oeq_problem), intent(inout) :: self
    call oeq_problem_destroy(self%handle)
    self%handle = c_null_ptr
  end subroutine problem_final

  ! Copying a handle would free it twice: refused.
  subroutine problem_assign(lhs, rhs)
    class(oeq_problem), intent(inout) :: lhs
    class(oeq_problem), intent(in) :: rhs
    if (c_associated(lhs%handle) .or. c_associated(rhs%handle)) then
      write(error_unit, '(a)') 'oeq: an oeq_problem cannot be copied; pass it by reference'
      error stop
    end if
  end subroutine problem_assign

  ! ------------------------------------------------------------ plans

  ! Tensor-product plan for `backend` (default OEQ_BACKEND_AUTO) on `device` (default 0).
  subroutine plan_create_tp(self, problem, backend, device, stat)
    class(oeq_plan), intent(inout) :: self
    class(oeq_problem), intent(in) :: problem
    integer(c_int), intent(in), optional :: backend
    integer, intent(in), optional :: device
    integer, intent(out), optional :: stat
    call plan_setup(self, problem, .false., backend, device, 0_c_int32_t, stat)
  end subroutine plan_create_tp

  ! Convolution plan; flags: OEQ_CONV_DETERMINISTIC, OEQ_CONV_KAHAN, OEQ_INDEX_INT64 (ior them).
  subroutine plan_create_conv(self, problem, backend, device, flags, stat)
    class(oeq_plan), intent(inout) :: self
    class(oeq_problem), intent(in) :: problem
    integer(c_int), intent(in), optional :: backend
    integer, intent(in), optional :: device
    integer(c_int32_t), intent(in), optional :: flags
    integer, intent(out), optional :: stat
    integer(c_int32_t) :: f
    f = 0
    if (present(flags)) f = flags
    call plan_setup(self, problem, .true., backend, device, f, stat)
  end subroutine plan_create_conv

  ! Symmetric-contraction plan (AUTO: a GPU backend only where it has the kernels, else the CPU).
  subroutine plan_create_sc(self, problem, backend, device, stat)
    class(oeq_plan), intent(inout) :: self
    class(oeq_problem), intent(in) :: problem
    integer(c_int), intent(in), optional :: backend
    integer, intent(in), optional :: device
    integer, intent(out), optional :: stat
    call plan_setup(self, problem, .false., backend, device, 0_c_int32_t, stat, symcon=.true.)
  end subroutine plan_create_sc

  subroutine plan_setup(self, problem, conv, backend, device, flags, stat, symcon)
    class(oeq_plan), intent(inout) :: self
    class(oeq_problem), intent(in) :: problem
    logical, intent(in) :: conv
    integer(c_int), intent(in), optional :: backend
    integer, intent(in), optional :: device
    integer(c_int32_t), intent(in) :: flags
    integer, intent(out), optional :: stat
    logical, intent(in), optional :: symcon
    logical :: sc
    integer(c_int) :: b, dev, s, irrep_dtype, weight_dtype, shared
    type(c_ptr) :: h
    integer(c_int64_t) :: d1, d2, d3, wn
    b = OEQ_BACKEND_AUTO
    dev = 0
    if (present(backend)) b = backend
    if (present(device)) dev = int(device, c_int)
    sc = .false.
    if (present(symcon)) sc = symcon
    if (sc) then
      s = oeq_plan_create_symmetric_contraction(problem%handle, b, dev, h)
    else if (conv) then
      s = oeq_plan_create_conv(problem%handle, b, dev, flags, h)
    else
      s = oeq_plan_create_tp(problem%handle, b, dev, h)
    end if
    if (s /= OEQ_SUCCESS) then
      call finish(s, stat)
      return
    end if
    ! The problem was good enough for a plan: these cannot fail.
    s = oeq_problem_dims(problem%handle, d1, d2, d3)
    if (s == OEQ_SUCCESS) s = oeq_problem_weight_numel(problem%handle, wn)
    if (s == OEQ_SUCCESS) s = oeq_problem_dtypes(problem%handle, irrep_dtype, weight_dtype)
    if (s == OEQ_SUCCESS) s = oeq_problem_shared_weights(problem%handle, shared)
    if (s == OEQ_SUCCESS) s = oeq_plan_backend(h, b)
    if (s /= OEQ_SUCCESS) then
      call oeq_plan_destroy(h)
      call finish(s, stat)
      return
    end if
    call self%destroy()
    self%handle = h
    self%x_dim = d1
    self%y_dim = d2
    self%z_dim = d3
    self%weight_numel = wn
    self%backend = b
    self%flags = flags
    self%is_conv = conv
    self%is_symcon = sc
    self%shared_weights = shared /= 0
    self%irrep_dtype = irrep_dtype
    self%weight_dtype = weight_dtype
    call finish(OEQ_SUCCESS, stat)
  end subroutine plan_setup

  function plan_workspace_size(self, x_rows, z_rows, edges, stat) result(bytes)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: x_rows, z_rows, edges
    integer, intent(out), optional :: stat
    integer(c_size_t) :: bytes
    bytes = 0
    call finish(oeq_conv_workspace_size(self%handle, x_rows, z_rows, edges, bytes), stat)
  end function plan_workspace_size

  subroutine plan_destroy(self)
    class(oeq_plan), intent(inout) :: self
    call oeq_plan_destroy(self%handle)
    self%handle = c_null_ptr
  end subroutine plan_destroy

  subroutine plan_final(self)
    type(oeq_plan), intent(inout) :: self
    call oeq_plan_destroy(self%handle)
    self%handle = c_null_ptr
  end subroutine plan_final

  subroutine plan_assign(lhs, rhs)
    class(oeq_plan), intent(inout) :: lhs
    class(oeq_plan), intent(in) :: rhs
    if (c_associated(lhs%handle) .or. c_associated(rhs%handle)) then
      write(error_unit, '(a)') 'oeq: an oeq_plan cannot be copied; pass it by reference'
      error stop
    end if
  end subroutine plan_assign

  ! ------------------------------------------------- host array checks

  function loci(a) result(p)
    integer(c_int32_t), intent(in), target, contiguous :: a(:)
    type(c_ptr) :: p
    p = c_null_ptr
    if (size(a) > 0) p = c_loc(a)
  end function loci

  ! An optional sender_perm as (address, entries); absent: (NULL, -1).
  subroutine perm_loc(sender_perm, p, n)
    integer(c_int32_t), intent(in), target, contiguous, optional :: sender_perm(:)
    type(c_ptr), intent(out) :: p
    integer(c_int64_t), intent(out) :: n
    p = c_null_ptr
    n = -1
    if (present(sender_perm)) then
      p = loci(sender_perm)
      n = size(sender_perm, kind=c_int64_t)
    end if
  end subroutine perm_loc

  ! shp must be (dim, rows); on mismatch s becomes INVALID_ARGUMENT with a message.
  subroutine check_shape(name, shp, dim, rows, s)
    character(len=*), intent(in) :: name
    integer(c_int64_t), intent(in) :: shp(2), dim, rows
    integer(c_int), intent(inout) :: s
    character(len=200) :: msg
    if (s /= OEQ_SUCCESS) return
    if (shp(1) == dim .and. shp(2) == rows) return
    write(msg, '(a,a,i0,a,i0,a,i0,a,i0,a)') name, ' has shape (', shp(1), ', ', shp(2), &
        '), expected (', dim, ', ', rows, ') [Fortran (dim, rows) = C [rows][dim]]'
    last_message = trim(msg)
    s = OEQ_ERROR_INVALID_ARGUMENT
  end subroutine check_shape

  ! Host arrays of `dtype` need a live CPU plan of the right kind and dtypes.
  subroutine check_host_plan(self, conv, dtype, s)
    class(oeq_plan), intent(in) :: self
    logical, intent(in) :: conv
    integer(c_int), intent(in) :: dtype
    integer(c_int), intent(out) :: s
    s = OEQ_ERROR_INVALID_ARGUMENT
    if (.not. c_associated(self%handle)) then
      last_message = 'the plan has not been created'
    else if (self%is_conv .neqv. conv) then
      last_message = 'wrong plan kind: forward/backward need create_tp, conv_* need create_conv'
    else if (self%backend /= OEQ_BACKEND_CPU) then
      last_message = 'Fortran arrays need a CPU plan; pass device arrays as type(c_ptr)'
    else if (self%irrep_dtype /= dtype .or. self%weight_dtype /= dtype) then
      last_message = 'array kind does not match the problem''s dtypes (use the type(c_ptr) overload '// &
          'for mixed dtypes)'
    else if (iand(self%flags, OEQ_INDEX_INT64) /= 0) then
      last_message = 'an OEQ_INDEX_INT64 plan takes its indices through the type(c_ptr) overload'
    else
      s = OEQ_SUCCESS
    end if
  end subroutine check_host_plan

  integer(c_int64_t) function weight_rows(self, rows)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: rows
    weight_rows = rows
    if (self%shared_weights) weight_rows = 1
  end function weight_rows

  ! --------------------------------------------- symmetric contraction

  ! Device (or host) arrays by address: x, species, w, z as in oeq_symcon_forward.
  subroutine symcon_forward_ptr(self, batch, x, species, w, z, stream, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: batch
    type(c_ptr), intent(in) :: x, species, w, z
    type(c_ptr), intent(in), optional :: stream
    integer, intent(out), optional :: stat
    call finish(oeq_symcon_forward(self%handle, batch, x, species, w, z, ptr_or_null(stream)), stat)
  end subroutine symcon_forward_ptr

  ! dx or dw c_null_ptr: that gradient is skipped.
  subroutine symcon_backward_ptr(self, batch, x, species, w, dz, dx, dw, stream, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: batch
    type(c_ptr), intent(in) :: x, species, w, dz, dx, dw
    type(c_ptr), intent(in), optional :: stream
    integer, intent(out), optional :: stat
    call finish(oeq_symcon_backward(self%handle, batch, x, species, w, dz, dx, dw, &
        ptr_or_null(stream)), stat)
  end subroutine symcon_backward_ptr

  ! Host arrays: a CPU symmetric-contraction plan whose dtypes are `dtype`, and the shapes.
  subroutine check_symcon_host(self, dtype, sx, ns, nw, sz, s)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), ns, nw, sz(2)
    integer(c_int), intent(out) :: s
    character(len=200) :: msg
    s = OEQ_ERROR_INVALID_ARGUMENT
    if (.not. c_associated(self%handle)) then
      last_message = 'the plan has not been created'
    else if (.not. self%is_symcon) then
      last_message = 'wrong plan kind: symcon_* need create_symmetric_contraction'
    else if (self%backend /= OEQ_BACKEND_CPU) then
      last_message = 'Fortran arrays need a CPU plan; pass device arrays as type(c_ptr)'
    else if (self%irrep_dtype /= dtype .or. self%weight_dtype /= dtype) then
      last_message = 'array kind does not match the problem''s dtypes (use the type(c_ptr) overload '// &
          'for mixed dtypes)'
    else if (ns /= sx(2)) then
      write(msg, '(a,i0,a,i0,a)') 'species has ', ns, ' entries, x has ', sx(2), ' rows'
      last_message = trim(msg)
    else if (nw /= self%weight_numel) then
      write(msg, '(a,i0,a,i0)') 'w has ', nw, ' entries, weight_numel is ', self%weight_numel
      last_message = trim(msg)
    else
      s = OEQ_SUCCESS
      call check_shape('x', sx, self%x_dim, sx(2), s)
      call check_shape('z', sz, self%z_dim, sx(2), s)
    end if
  end subroutine check_symcon_host

  subroutine symcon_forward_host(self, dtype, sx, ns, nw, sz, px, ps, pw, pz, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), ns, nw, sz(2)
    type(c_ptr), intent(in) :: px, ps, pw, pz
    integer, intent(out), optional :: stat
    integer(c_int) :: s
    call check_symcon_host(self, dtype, sx, ns, nw, sz, s)
    if (s /= OEQ_SUCCESS) then
      call report(s, stat)
      return
    end if
    call finish(oeq_symcon_forward(self%handle, sx(2), px, ps, pw, pz, c_null_ptr), stat)
  end subroutine symcon_forward_host

  subroutine symcon_backward_host(self, dtype, sx, ns, nw, sdz, sdx, ndw, px, ps, pw, pdz, pdx, &
      pdw, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), ns, nw, sdz(2), sdx(2), ndw
    type(c_ptr), intent(in) :: px, ps, pw, pdz, pdx, pdw
    integer, intent(out), optional :: stat
    integer(c_int) :: s
    call check_symcon_host(self, dtype, sx, ns, nw, sdz, s)
    call check_shape('dx', sdx, self%x_dim, sx(2), s)
    if (s == OEQ_SUCCESS .and. ndw /= self%weight_numel) then
      last_message = 'dw must have weight_numel entries'
      s = OEQ_ERROR_INVALID_ARGUMENT
    end if
    if (s /= OEQ_SUCCESS) then
      call report(s, stat)
      return
    end if
    call finish(oeq_symcon_backward(self%handle, sx(2), px, ps, pw, pdz, pdx, pdw, c_null_ptr), &
        stat)
  end subroutine symcon_backward_host

  ! --------------------------------------------- tensor product (host)

  subroutine tp_forward_host(self, dtype, sx, sy, sw, sz, px, py, pw, pz, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), sy(2), sw(2), sz(2)
    type(c_ptr), intent(in) :: px, py, pw, pz
    integer, intent(out), optional :: stat
    integer(c_int) :: s
    integer(c_int64_t) :: batch
    call check_host_plan(self, .false., dtype, s)
    batch = sx(2)
    call check_shape('x', sx, self%x_dim, batch, s)
    call check_shape('y', sy, self%y_dim, batch, s)
    call check_shape('w', sw, self%weight_numel, weight_rows(self, batch), s)
    call check_shape('z', sz, self%z_dim, batch, s)
    if (s /= OEQ_SUCCESS) then
      call report(s, stat)
      return
    end if
    call finish(oeq_tp_forward(self%handle, batch, px, py, pw, pz, c_null_ptr), stat)
  end subroutine tp_forward_host

  subroutine tp_backward_host(self, dtype, sx, sy, sw, sdz, sdx, sdy, sdw, &
      px, py, pw, pdz, pdx, pdy, pdw, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), sy(2), sw(2), sdz(2), sdx(2), sdy(2), sdw(2)
    type(c_ptr), intent(in) :: px, py, pw, pdz, pdx, pdy, pdw
    integer, intent(out), optional :: stat
    integer(c_int) :: s
    integer(c_int64_t) :: batch
    call check_host_plan(self, .false., dtype, s)
    batch = sx(2)
    call check_shape('x', sx, self%x_dim, batch, s)
    call check_shape('y', sy, self%y_dim, batch, s)
    call check_shape('w', sw, self%weight_numel, weight_rows(self, batch), s)
    call check_shape('dz', sdz, self%z_dim, batch, s)
    call check_shape('dx', sdx, self%x_dim, batch, s)
    call check_shape('dy', sdy, self%y_dim, batch, s)
    call check_shape('dw', sdw, self%weight_numel, weight_rows(self, batch), s)
    if (s /= OEQ_SUCCESS) then
      call report(s, stat)
      return
    end if
    call finish(oeq_tp_backward(self%handle, batch, px, py, pw, pdz, pdx, pdy, pdw, c_null_ptr), stat)
  end subroutine tp_backward_host

  ! Device (or any) addresses: no shape checks are possible here; counts are explicit.
  subroutine forward_ptr(self, batch, x, y, w, z, stream, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: batch
    type(c_ptr), intent(in) :: x, y, w, z
    type(c_ptr), intent(in), optional :: stream
    integer, intent(out), optional :: stat
    call finish(oeq_tp_forward(self%handle, batch, x, y, w, z, ptr_or_null(stream)), stat)
  end subroutine forward_ptr

  subroutine backward_ptr(self, batch, x, y, w, dz, dx, dy, dw, stream, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: batch
    type(c_ptr), intent(in) :: x, y, w, dz, dx, dy, dw
    type(c_ptr), intent(in), optional :: stream
    integer, intent(out), optional :: stat
    call finish(oeq_tp_backward(self%handle, batch, x, y, w, dz, dx, dy, dw, &
        ptr_or_null(stream)), stat)
  end subroutine backward_ptr

  ! ------------------------------------------------ convolution (host)

  subroutine conv_forward_host(self, dtype, sx, sy, sw, sz, e_rows, e_cols, e_perm, &
      px, py, pw, prows, pcols, pperm, pz, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), sy(2), sw(2), sz(2), e_rows, e_cols, e_perm
    type(c_ptr), intent(in) :: px, py, pw, prows, pcols, pperm, pz
    integer, intent(out), optional :: stat
    integer(c_int) :: s
    integer(c_int64_t) :: edges
    call check_host_plan(self, .true., dtype, s)
    edges = e_rows
    call check_shape('y', sy, self%y_dim, edges, s)
    call check_shape('w', sw, self%weight_numel, weight_rows(self, edges), s)
    call check_shape('cols (as (1, edges))', [1_c_int64_t, e_cols], 1_c_int64_t, edges, s)
    if (e_perm >= 0) call check_shape('sender_perm (as (1, edges))', [1_c_int64_t, e_perm], &
        1_c_int64_t, edges, s)
    call check_shape('x', sx, self%x_dim, sx(2), s)
    call check_shape('z', sz, self%z_dim, sz(2), s)
    if (s /= OEQ_SUCCESS) then
      call report(s, stat)
      return
    end if
    call finish(oeq_conv_forward(self%handle, sx(2), sz(2), edges, px, py, pw, prows, pcols, pperm, &
        pz, c_null_ptr, 0_c_size_t, c_null_ptr), stat)
  end subroutine conv_forward_host

  subroutine conv_backward_host(self, dtype, sx, sy, sw, sdz, sdx, sdy, sdw, e_rows, e_cols, &
      e_perm, px, py, pw, pdz, prows, pcols, pperm, pdx, pdy, pdw, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int), intent(in) :: dtype
    integer(c_int64_t), intent(in) :: sx(2), sy(2), sw(2), sdz(2), sdx(2), sdy(2), sdw(2)
    integer(c_int64_t), intent(in) :: e_rows, e_cols, e_perm
    type(c_ptr), intent(in) :: px, py, pw, pdz, prows, pcols, pperm, pdx, pdy, pdw
    integer, intent(out), optional :: stat
    integer(c_int) :: s
    integer(c_int64_t) :: edges
    call check_host_plan(self, .true., dtype, s)
    edges = e_rows
    call check_shape('y', sy, self%y_dim, edges, s)
    call check_shape('w', sw, self%weight_numel, weight_rows(self, edges), s)
    call check_shape('cols (as (1, edges))', [1_c_int64_t, e_cols], 1_c_int64_t, edges, s)
    if (e_perm >= 0) call check_shape('sender_perm (as (1, edges))', [1_c_int64_t, e_perm], &
        1_c_int64_t, edges, s)
    call check_shape('x', sx, self%x_dim, sx(2), s)
    call check_shape('dz', sdz, self%z_dim, sdz(2), s)
    call check_shape('dx', sdx, self%x_dim, sx(2), s)
    call check_shape('dy', sdy, self%y_dim, edges, s)
    call check_shape('dw', sdw, self%weight_numel, weight_rows(self, edges), s)
    if (s /= OEQ_SUCCESS) then
      call report(s, stat)
      return
    end if
    call finish(oeq_conv_backward(self%handle, sx(2), sdz(2), edges, px, py, pw, pdz, prows, pcols, &
        pperm, pdx, pdy, pdw, c_null_ptr, 0_c_size_t, c_null_ptr), stat)
  end subroutine conv_backward_host

  ! Device addresses. sender_perm, workspace (+ workspace_bytes) and stream default to NULL
  ! (a NULL workspace lets the library allocate it, stream-ordered).
  subroutine conv_forward_ptr(self, x_rows, z_rows, edges, x, y, w, rows, cols, z, sender_perm, &
      workspace, workspace_bytes, stream, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: x_rows, z_rows, edges
    type(c_ptr), intent(in) :: x, y, w, rows, cols, z
    type(c_ptr), intent(in), optional :: sender_perm, workspace, stream
    integer(c_size_t), intent(in), optional :: workspace_bytes
    integer, intent(out), optional :: stat
    integer(c_size_t) :: wb
    wb = 0
    if (present(workspace_bytes)) wb = workspace_bytes
    call finish(oeq_conv_forward(self%handle, x_rows, z_rows, edges, x, y, w, rows, cols, &
        ptr_or_null(sender_perm), z, ptr_or_null(workspace), wb, ptr_or_null(stream)), stat)
  end subroutine conv_forward_ptr

  subroutine conv_backward_ptr(self, x_rows, z_rows, edges, x, y, w, dz, rows, cols, dx, dy, dw, &
      sender_perm, workspace, workspace_bytes, stream, stat)
    class(oeq_plan), intent(in) :: self
    integer(c_int64_t), intent(in) :: x_rows, z_rows, edges
    type(c_ptr), intent(in) :: x, y, w, dz, rows, cols, dx, dy, dw
    type(c_ptr), intent(in), optional :: sender_perm, workspace, stream
    integer(c_size_t), intent(in), optional :: workspace_bytes
    integer, intent(out), optional :: stat
    integer(c_size_t) :: wb
    wb = 0
    if (present(workspace_bytes)) wb = workspace_bytes
    call finish(oeq_conv_backward(self%handle, x_rows, z_rows, edges, x, y, w, dz, rows, cols, &
        ptr_or_null(sender_perm), dx, dy, dw, ptr_or_null(workspace), wb, &
        ptr_or_null(stream)), stat)
  end subroutine conv_backward_ptr

  ! ------------------------------------- typed host-array overloads
  ! loc_f32/f64, forward_, backward_, conv_forward_, conv_backward_ f32/f64:
  ! generated from fortran/oeq_real.inc.tpl by bindings/genabi.py.
  include 'oeq_real.inc'

end module oeq
