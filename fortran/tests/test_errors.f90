! test_errors.f90: bad input through the Fortran layer comes back as a status.
!
! Each case calls with `stat` present and requires the expected oeq_status_t
! and a non-empty message; exits 1 on the first case that does not hold.
program test_errors
  use, intrinsic :: iso_c_binding
  use oeq
  implicit none
  type(oeq_problem) :: p, q
  type(oeq_plan) :: tp, conv, tq
  real(c_float), allocatable :: x(:, :), y(:, :), w(:, :), z(:, :)
  real(c_double), allocatable :: xd(:, :), yd(:, :), wd(:, :), zd(:, :), wr(:, :)
  integer(c_int32_t) :: rows(2), cols(2)
  integer(c_int64_t) :: d1, d2, d3, wn, n1, n2, n3
  integer(c_int) :: ird, wtd
  integer :: s, failures
  real(c_float), target :: dummy(1)

  failures = 0

  call p%create('2x0e+garbage', '0e', '0e', stat=s)
  call expect('unparsable irreps', s, OEQ_ERROR_PARSE)

  call p%create('2x0e+1x1o', '0e+1o', '2x0e+1x1o', stat=s)
  call expect('create', s, OEQ_SUCCESS)
  call p%add_instruction(0, 0, 7, OEQ_MODE_UVW, stat=s)
  call expect('output index out of range', s, OEQ_ERROR_INVALID_PROBLEM)
  call p%add_instruction(0, 0, 0, 99_c_int, stat=s)
  call expect('bad mode', s, OEQ_ERROR_INVALID_ARGUMENT)
  call p%set_dtypes(OEQ_FLOAT32, 5_c_int, stat=s)
  call expect('bad dtype', s, OEQ_ERROR_INVALID_ARGUMENT)
  call p%set_variances(in1_var=[1.0_c_double], stat=s)
  call expect('in1_var of the wrong length', s, OEQ_ERROR_INVALID_ARGUMENT)
  call p%set_variances(in1_var=[1.0_c_double, -2.0_c_double], stat=s)
  call expect('negative variance', s, OEQ_ERROR_INVALID_ARGUMENT)
  call p%add_instruction(0, 0, 0, OEQ_MODE_UVW, stat=s)
  call expect('good instruction', s, OEQ_SUCCESS)
  call p%add_instruction(1, 0, 1, OEQ_MODE_UVW, path_weight=0.5_c_double, stat=s)
  call expect('good instruction 2', s, OEQ_SUCCESS)

  call tp%create_tp(p, OEQ_BACKEND_CPU, stat=s)
  call expect('tp plan', s, OEQ_SUCCESS)
  call conv%create_conv(p, OEQ_BACKEND_CPU, flags=OEQ_CONV_KAHAN, stat=s)
  call expect('KAHAN without DETERMINISTIC', s, OEQ_ERROR_INVALID_ARGUMENT)
  call conv%create_conv(p, OEQ_BACKEND_CPU, stat=s)
  call expect('conv plan', s, OEQ_SUCCESS)
  call tp%create_tp(p, OEQ_BACKEND_CPU, device=-1, stat=s)
  call expect('negative device', s, OEQ_ERROR_INVALID_ARGUMENT)
  if (.not. c_associated(tp%handle)) call fail('a failed create_tp must keep the old plan')

  call p%dims(d1, d2, d3)
  wn = p%weight_numel()
  allocate(x(d1, 3), y(d2, 3), w(wn, 1), z(d3, 3))
  x = 1
  y = 1
  w = 1
  call tp%forward(x, y, w, z, stat=s)
  call expect('good forward', s, OEQ_SUCCESS)
  deallocate(y)
  allocate(y(d2, 2))
  y = 1
  call tp%forward(x, y, w, z, stat=s)
  call expect('y with the wrong batch', s, OEQ_ERROR_INVALID_ARGUMENT)
  if (index(oeq_error_message(), 'y has shape') == 0) call fail('message names y: ' // oeq_error_message())
  deallocate(x)
  allocate(x(d1 + 1, 2))
  call tp%forward(x, y, w, z(:, 1:2), stat=s)
  call expect('x of the wrong width', s, OEQ_ERROR_INVALID_ARGUMENT)

  allocate(xd(d1, 2), yd(d2, 2), wd(wn, 1), zd(d3, 2))
  xd = 1
  yd = 1
  wd = 1
  call tp%forward(xd, yd, wd, zd, stat=s)
  call expect('float64 arrays on a float32 problem', s, OEQ_ERROR_INVALID_ARGUMENT)

  rows = [0, 1]
  cols = [0, 1]
  call tp%conv_forward(x, y, w, rows, cols, z, stat=s)
  call expect('conv_forward on a TP plan', s, OEQ_ERROR_INVALID_ARGUMENT)
  call conv%forward(x, y, w, z, stat=s)
  call expect('forward on a conv plan', s, OEQ_ERROR_INVALID_ARGUMENT)
  deallocate(x)
  allocate(x(d1, 2))
  x = 1
  cols = [0, 5]
  call conv%conv_forward(x, y, w, rows, cols, z(:, 1:2), stat=s)
  call expect('cols out of range (library check)', s, OEQ_ERROR_INVALID_ARGUMENT)
  if (index(oeq_error_message(), 'cols') == 0) call fail('message names cols: ' // oeq_error_message())

  ! A plan takes the problem's dtypes and weight sharing (the getters): a
  ! float64 problem with per-row weights takes float64 arrays and w(wn, batch).
  call q%create('2x0e+1x1o', '0e+1o', '2x0e+1x1o', stat=s)
  call expect('create q', s, OEQ_SUCCESS)
  call q%add_instruction(0, 0, 0, OEQ_MODE_UVW, stat=s)
  call q%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64, stat=s)
  call q%set_shared_weights(.false., stat=s)
  call q%set_variances(in1_var=[1.0_c_double, 2.0_c_double], out_var=[1.0_c_double, 0.5_c_double], &
      stat=s)
  call expect('variances of the right lengths', s, OEQ_SUCCESS)
  call q%set_variances(out_var=[1.0_c_double, 1.0_c_double, 1.0_c_double], stat=s)
  call expect('out_var of the wrong length', s, OEQ_ERROR_INVALID_ARGUMENT)
  call q%dtypes(ird, wtd, stat=s)
  call expect('dtypes', s, OEQ_SUCCESS)
  if (ird /= OEQ_FLOAT64 .or. wtd /= OEQ_FLOAT64) call fail('dtypes are not float64')
  if (q%shared_weights()) call fail('shared_weights after set_shared_weights(.false.)')
  call q%irreps_count(n1, n2, n3, stat=s)
  if (n1 /= 2 .or. n2 /= 2 .or. n3 /= 2) call fail('irreps_count is not (2, 2, 2)')
  call tq%create_tp(q, OEQ_BACKEND_CPU, stat=s)
  call expect('float64 per-row plan', s, OEQ_SUCCESS)
  allocate(wr(q%weight_numel(), 2))
  wr = 1
  call tq%forward(xd, yd, wr, zd, stat=s)
  call expect('float64 arrays, per-row weights', s, OEQ_SUCCESS)
  call tq%forward(xd, yd, wr(:, 1:1), zd, stat=s)
  call expect('one weight row on a per-row plan', s, OEQ_ERROR_INVALID_ARGUMENT)
  if (index(oeq_error_message(), 'w has shape') == 0) call fail('message names w: ' // oeq_error_message())
  call tq%forward(x, y, w, z(:, 1:2), stat=s)
  call expect('float32 arrays on a float64 plan', s, OEQ_ERROR_INVALID_ARGUMENT)
  call tq%destroy()
  call q%destroy()
  call q%irreps_count(n1, n2, n3, stat=s)
  call expect('irreps_count of a destroyed problem', s, OEQ_ERROR_INVALID_ARGUMENT)

  ! Raw addresses: the library's own checks.
  call tp%forward(2_c_int64_t, c_null_ptr, c_loc(dummy), c_loc(dummy), c_loc(dummy), stat=s)
  call expect('NULL x through the c_ptr overload', s, OEQ_ERROR_INVALID_ARGUMENT)
  call tp%forward(0_c_int64_t, c_null_ptr, c_null_ptr, c_null_ptr, c_null_ptr, &
      stream=c_loc(dummy), stat=s)
  call expect('a stream on a CPU plan', s, OEQ_ERROR_INVALID_ARGUMENT)
  if (index(oeq_error_message(), 'stream') == 0) call fail('message names the stream: ' // oeq_error_message())
  call tp%forward(-1_c_int64_t, c_null_ptr, c_null_ptr, c_null_ptr, c_null_ptr, stat=s)
  call expect('negative batch', s, OEQ_ERROR_INVALID_ARGUMENT)

  call tp%destroy()
  call tp%forward(x, y, w, z, stat=s)
  call expect('a destroyed plan', s, OEQ_ERROR_INVALID_ARGUMENT)

  if (failures > 0) then
    write(*, '(i0,a)') failures, ' case(s) failed'
    error stop 1
  end if
  write(*, '(a)') 'all error cases passed'
  ! Main-program allocatables are never freed implicitly: free them so leak
  ! checkers see a clean exit.
  deallocate(x, y, w, z, xd, yd, wd, zd, wr)

contains

  subroutine expect(what, got, want)
    character(len=*), intent(in) :: what
    integer, intent(in) :: got
    integer(c_int), intent(in) :: want
    if (got /= want) then
      write(*, '(a,a,i0,a,i0,a,a)') what, ': got status ', got, ', expected ', want, '; message: ', &
          oeq_error_message()
      failures = failures + 1
    else if (want /= OEQ_SUCCESS .and. len(oeq_error_message()) == 0) then
      write(*, '(a,a)') what, ': no message'
      failures = failures + 1
    else
      write(*, '(a,a,a,a)') 'ok: ', what, ' -> ', oeq_status_name(got)
    end if
  end subroutine expect

  subroutine fail(msg)
    character(len=*), intent(in) :: msg
    write(*, '(a)') 'FAIL: ' // msg
    failures = failures + 1
  end subroutine fail
end program test_errors
