! test_symcon.f90: the symmetric contraction through module oeq (CPU plans):
! create / plan / symcon_forward / symcon_backward with host arrays in
! float64 and float32, the type(c_ptr) overloads, central differences of dx
! and dw, and the refusals (shapes, plan kind, species out of range,
! TP-only setters). Exit status 1 on the first failure.
program test_symcon
  use, intrinsic :: iso_c_binding
  use oeq
  implicit none
  type(oeq_problem) :: p, p32
  type(oeq_plan) :: plan, plan32, tp
  integer(c_int64_t), parameter :: E = 3, C = 2, B = 4
  integer(c_int64_t) :: xd, yd, zd, nw
  real(c_double), allocatable, target :: x(:, :), w(:), z(:, :), dz(:, :), dx(:, :), dw(:)
  real(c_double), allocatable, target :: z2(:, :), zp(:, :), zm(:, :)
  real(c_float), allocatable :: x32(:, :), w32(:), z32(:, :), dz32(:, :), dx32(:, :), dw32(:)
  integer(c_int32_t), target :: species(B) = [2, 0, 2, 1]
  integer(c_int32_t) :: bad(B)
  integer :: stat, i
  real(c_double) :: h, fd, keep

  call p%create_symmetric_contraction('0e+1o+2e', '0e+1o', 3, E, C)
  call p%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
  call p%dims(xd, yd, zd)
  nw = p%weight_numel()
  call expect(xd == C * 9 .and. yd == 0 .and. zd == C * 4 .and. nw > 0, 'dims / weight_numel')
  call plan%create_symmetric_contraction(p, OEQ_BACKEND_CPU)

  allocate(x(xd, B), w(nw), z(zd, B), dz(zd, B), dx(xd, B), dw(nw), z2(zd, B), zp(zd, B), zm(zd, B))
  call fill(x)
  call fill1(w)
  call fill(dz)
  z = ieee_nan()
  call plan%symcon_forward(x, species, w, z)
  call expect(all(z == z), 'forward wrote every z')
  call plan%symcon_backward(x, species, w, dz, dx, dw)
  ! the c_ptr overload computes the same thing
  call plan%symcon_forward(B, c_loc(x), c_loc(species), c_loc(w), c_loc(z2))
  call expect(all(z2 == z), 'c_ptr forward differs from the array overload')

  ! central differences of <dz, z>: every dx entry, every dw entry
  h = 1e-5_c_double
  do i = 1, int(xd * B)
    keep = x(mod(i - 1, int(xd)) + 1, (i - 1) / int(xd) + 1)
    call bump(x, i, keep + h)
    call plan%symcon_forward(x, species, w, zp)
    call bump(x, i, keep - h)
    call plan%symcon_forward(x, species, w, zm)
    call bump(x, i, keep)
    fd = (sum(dz * zp) - sum(dz * zm)) / (2 * h)
    call expect(abs(fd - dx(mod(i - 1, int(xd)) + 1, (i - 1) / int(xd) + 1)) <= 1e-7_c_double * &
        max(1.0_c_double, abs(fd)), 'dx against central differences')
  end do
  do i = 1, int(nw)
    keep = w(i)
    w(i) = keep + h
    call plan%symcon_forward(x, species, w, zp)
    w(i) = keep - h
    call plan%symcon_forward(x, species, w, zm)
    w(i) = keep
    fd = (sum(dz * zp) - sum(dz * zm)) / (2 * h)
    call expect(abs(fd - dw(i)) <= 1e-7_c_double * max(1.0_c_double, abs(fd)), &
        'dw against central differences')
  end do

  ! float32 overloads agree with float64
  call p32%create_symmetric_contraction('0e+1o+2e', '0e+1o', 3, E, C)
  call p32%set_dtypes(OEQ_FLOAT32, OEQ_FLOAT32)
  call plan32%create_symmetric_contraction(p32)
  allocate(x32(xd, B), w32(nw), z32(zd, B), dz32(zd, B), dx32(xd, B), dw32(nw))
  x32 = real(x, c_float)
  w32 = real(w, c_float)
  dz32 = real(dz, c_float)
  call plan32%symcon_forward(x32, species, w32, z32)
  call plan32%symcon_backward(x32, species, w32, dz32, dx32, dw32)
  call expect(norm2(real(z32, c_double) - z) <= 1e-5_c_double * norm2(z), 'f32 z')
  call expect(norm2(real(dx32, c_double) - dx) <= 1e-5_c_double * norm2(dx), 'f32 dx')
  call expect(norm2(real(dw32, c_double) - dw) <= 1e-5_c_double * norm2(dw), 'f32 dw')

  ! refusals: nothing written, a status and a message
  z2 = ieee_nan()
  bad = species
  bad(3) = int(E, c_int32_t)
  call plan%symcon_forward(x, bad, w, z2, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT .and. len(oeq_error_message()) > 0, &
      'species out of range')
  call expect(all(z2 /= z2), 'a failed forward wrote z')
  call plan%symcon_forward(x(:, 1:3), species, w, z2, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT, 'species / x rows mismatch')
  call plan%symcon_forward(x, species, w(1:nw - 1), z2, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT, 'short w')
  call plan32%symcon_forward(x, species, w, z2, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT, 'f64 arrays on an f32 plan')
  call p%set_layout(OEQ_LAYOUT_IR_MUL, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT, 'set_layout on a symmetric contraction')
  call tp%create_tp(p, OEQ_BACKEND_CPU, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT, 'a TP plan of a symmetric contraction')
  call p%create_symmetric_contraction('0e', '0e', 9, E, C, stat=stat)
  call expect(stat == OEQ_ERROR_INVALID_ARGUMENT, 'correlation 9')
  print '(a)', 'ok: symmetric contraction through module oeq'
  ! main-program variables are never finalized or deallocated by the
  ! runtime: release them, so a leak checker sees only oeq's own leaks
  deallocate(x, w, z, dz, dx, dw, z2, zp, zm, x32, w32, z32, dz32, dx32, dw32)
  call plan%destroy()
  call plan32%destroy()
  call tp%destroy()
  call p%destroy()
  call p32%destroy()

contains

  subroutine expect(cond, what)
    logical, intent(in) :: cond
    character(len=*), intent(in) :: what
    if (.not. cond) then
      print '(a,a,a,a)', 'FAIL: ', what, ': ', oeq_error_message()
      stop 1
    end if
  end subroutine expect

  subroutine fill(a)
    real(c_double), intent(out) :: a(:, :)
    integer :: j, k
    do k = 1, size(a, 2)
      do j = 1, size(a, 1)
        a(j, k) = sin(0.7_c_double * j + 1.3_c_double * k)
      end do
    end do
  end subroutine fill

  subroutine fill1(a)
    real(c_double), intent(out) :: a(:)
    integer :: j
    do j = 1, size(a)
      a(j) = cos(0.37_c_double * j)
    end do
  end subroutine fill1

  subroutine bump(a, i, v)
    real(c_double), intent(inout) :: a(:, :)
    integer, intent(in) :: i
    real(c_double), intent(in) :: v
    a(mod(i - 1, size(a, 1)) + 1, (i - 1) / size(a, 1) + 1) = v
  end subroutine bump

  function ieee_nan() result(v)
    use, intrinsic :: ieee_arithmetic
    real(c_double) :: v
    v = ieee_value(v, ieee_quiet_nan)
  end function ieee_nan
end program test_symcon
