! fdriver.f90: the Fortran half of the Fortran-vs-C comparison.
!
! Same problems and inputs as cdriver.c, through the friendly module `oeq`
! with Fortran arrays; writes every output as raw bytes (stream access) to
! the file named by the first argument, in cdriver's order.
program fdriver
  use, intrinsic :: iso_c_binding
  use oeq
  implicit none
  integer :: u
  character(len=512) :: path

  call get_command_argument(1, path)
  open(newunit=u, file=trim(path), access='stream', form='unformatted', status='replace')
  call run_tp(u)
  call run_conv(u, OEQ_CONV_DETERMINISTIC)
  call run_conv(u, 0_c_int32_t)
  close(u)

contains

  ! cdriver's input_value for 0-based flat index i (C row-major = Fortran column-major).
  pure real(c_double) function input_value(i, salt)
    integer, intent(in) :: i, salt
    input_value = real(mod(i * 7919 + salt * 104729, 2001) - 1000, c_double) / 512.0_c_double
  end function input_value

  subroutine fill64(a, salt)
    real(c_double), intent(out), contiguous, target :: a(:, :)
    integer, intent(in) :: salt
    real(c_double), pointer :: flat(:)
    integer :: i
    call c_f_pointer(c_loc(a), flat, [size(a)])
    do i = 1, size(a)
      flat(i) = input_value(i - 1, salt)
    end do
  end subroutine fill64

  subroutine fill32(a, salt)
    real(c_float), intent(out), contiguous, target :: a(:, :)
    integer, intent(in) :: salt
    real(c_float), pointer :: flat(:)
    integer :: i
    call c_f_pointer(c_loc(a), flat, [size(a)])
    do i = 1, size(a)
      flat(i) = real(input_value(i - 1, salt), c_float)
    end do
  end subroutine fill32

  subroutine run_tp(u)
    integer, intent(in) :: u
    integer, parameter :: batch = 5
    type(oeq_problem) :: p
    type(oeq_plan) :: plan
    integer(c_int64_t) :: d1, d2, d3, wn
    real(c_double), allocatable :: x(:, :), y(:, :), w(:, :), z(:, :), gx(:, :), gy(:, :), gw(:, :)
    call p%create_fully_connected('2x0e+2x1o', '1x0e+1x1o', '2x0e+1x1o+1x1e')
    call p%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
    call p%dims(d1, d2, d3)
    wn = p%weight_numel()
    call plan%create_tp(p, OEQ_BACKEND_CPU)
    call p%destroy()
    allocate(x(d1, batch), y(d2, batch), w(wn, 1), z(d3, batch))
    allocate(gx(d1, batch), gy(d2, batch), gw(wn, 1))
    call fill64(x, 1)
    call fill64(y, 2)
    call fill64(w, 3)
    call plan%forward(x, y, w, z)
    write(u) z
    call fill64(z, 4)
    call plan%backward(x, y, w, z, gx, gy, gw)
    write(u) gx, gy, gw
  end subroutine run_tp

  subroutine run_conv(u, flags)
    integer, intent(in) :: u
    integer(c_int32_t), intent(in) :: flags
    integer, parameter :: x_rows = 6, z_rows = 5, edges = 12
    type(oeq_problem) :: p
    type(oeq_plan) :: plan
    integer(c_int64_t) :: d1, d2, d3, wn
    integer(c_int32_t) :: rows(edges), cols(edges), perm(edges)
    real(c_float), allocatable :: x(:, :), y(:, :), w(:, :), z(:, :), gx(:, :), gy(:, :), gw(:, :)
    integer :: e, c, k
    do e = 0, edges - 1
      rows(e + 1) = int(e * z_rows / edges, c_int32_t)
      cols(e + 1) = int(mod(e * 7 + 3, x_rows), c_int32_t)
    end do
    k = 0
    do c = 0, x_rows - 1
      do e = 0, edges - 1
        if (cols(e + 1) == c) then
          k = k + 1
          perm(k) = int(e, c_int32_t)
        end if
      end do
    end do
    call p%create_channelwise('4x0e+4x1o', '0e+1o', '0e+1o+1e')
    call p%dims(d1, d2, d3)
    wn = p%weight_numel()
    call plan%create_conv(p, OEQ_BACKEND_CPU, flags=flags)
    allocate(x(d1, x_rows), y(d2, edges), w(wn, edges), z(d3, z_rows))
    allocate(gx(d1, x_rows), gy(d2, edges), gw(wn, edges))
    call fill32(x, 5)
    call fill32(y, 6)
    call fill32(w, 7)
    if (iand(flags, OEQ_CONV_DETERMINISTIC) /= 0) then
      call plan%conv_forward(x, y, w, rows, cols, z, sender_perm=perm)
    else
      call plan%conv_forward(x, y, w, rows, cols, z)
    end if
    write(u) z
    call fill32(z, 8)
    if (iand(flags, OEQ_CONV_DETERMINISTIC) /= 0) then
      call plan%conv_backward(x, y, w, z, rows, cols, gx, gy, gw, sender_perm=perm)
    else
      call plan%conv_backward(x, y, w, z, rows, cols, gx, gy, gw)
    end if
    write(u) gx, gy, gw
  end subroutine run_conv
end program fdriver
