! test_gpu.f90: module oeq with device arrays, as a CUDA Fortran or OpenACC
! code calls it: device addresses as type(c_ptr) through the c_ptr
! overloads, on CUDA plans, against CPU plans given the same inputs as
! Fortran arrays. TP forward / backward (float32 per-row weights, float64
! shared weights) and the convolution (float32, atomic and deterministic).
! Device outputs are filled with NaN first, so unwritten elements show.
! Device memory comes from gpu_mem.c (the driver API, as a runtime would).
! Exit status 77 (skip) without a CUDA device or the CUDA backend.
program test_gpu
  use, intrinsic :: iso_c_binding
  use, intrinsic :: ieee_arithmetic
  use oeq
  implicit none

  interface
    integer(c_int) function oeqt_gpu_open() bind(C)
      import :: c_int
    end function oeqt_gpu_open
    type(c_ptr) function oeqt_gpu_alloc(bytes) bind(C)
      import :: c_ptr, c_size_t
      integer(c_size_t), value :: bytes
    end function oeqt_gpu_alloc
    integer(c_int) function oeqt_gpu_put(dst, src, bytes) bind(C)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: dst, src
      integer(c_size_t), value :: bytes
    end function oeqt_gpu_put
    integer(c_int) function oeqt_gpu_get(dst, src, bytes) bind(C)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: dst, src
      integer(c_size_t), value :: bytes
    end function oeqt_gpu_get
    subroutine oeqt_gpu_free(p) bind(C)
      import :: c_ptr
      type(c_ptr), value :: p
    end subroutine oeqt_gpu_free
  end interface

  integer :: failures = 0

  if (.not. oeq_backend_is_available(OEQ_BACKEND_CUDA) .or. oeqt_gpu_open() == 0) then
    print '(a)', 'no CUDA device or backend: skip'
    stop 77
  end if
  call tp_f32_per_row()
  call tp_f64_shared()
  call conv_f32(0_c_int32_t)
  call conv_f32(OEQ_CONV_DETERMINISTIC)
  if (failures > 0) then
    print '(i0,a)', failures, ' check(s) failed'
    error stop 1
  end if
  print '(a)', 'all passed'

contains

  subroutine check(what, got, want, tol)
    character(len=*), intent(in) :: what
    real(c_double), intent(in) :: got(:), want(:), tol
    real(c_double) :: err
    if (any(ieee_is_nan(got))) then
      print '(a,a)', 'FAIL - ', what//': NaN left in the output (an element not written)'
      failures = failures + 1
      return
    end if
    err = norm2(got - want) / max(norm2(want), tiny(1.0_c_double))
    if (err > tol) then
      print '(a,a,es9.2)', 'FAIL - ', what//': relative error ', err
      failures = failures + 1
    else
      print '(a,a,es9.2,a)', 'ok - ', what//' (', err, ')'
    end if
  end subroutine check

  subroutine check32(what, got, want)
    character(len=*), intent(in) :: what
    real(c_float), intent(in) :: got(:, :), want(:, :)
    call check(what, real(pack(got, .true.), c_double), real(pack(want, .true.), c_double), 1d-5)
  end subroutine check32

  subroutine need(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    if (.not. ok) then
      print '(a,a,a,a)', 'FAIL - ', what, ': ', oeq_error_message()
      error stop 1
    end if
  end subroutine need

  ! A device copy of a host array (bytes of it), or a NaN-filled one of that size.
  function to_device(p, bytes) result(d)
    type(c_ptr), intent(in) :: p
    integer(c_size_t), intent(in) :: bytes
    type(c_ptr) :: d
    d = oeqt_gpu_alloc(bytes)
    call need(c_associated(d), 'device allocation')
    call need(oeqt_gpu_put(d, p, bytes) == 0, 'copy to the device')
  end function to_device

  subroutine from_device(p, d, bytes)
    type(c_ptr), intent(in) :: p, d
    integer(c_size_t), intent(in) :: bytes
    call need(oeqt_gpu_get(p, d, bytes) == 0, 'copy from the device')
    call oeqt_gpu_free(d)
  end subroutine from_device

  subroutine fill32(a, seed)
    real(c_float), intent(out) :: a(:, :)
    integer, intent(in) :: seed
    integer :: i, j
    do j = 1, size(a, 2)
      do i = 1, size(a, 1)
        a(i, j) = real(mod(i * 7919 + j * 104729 + seed * 31, 2001) - 1000, c_float) / 512.0_c_float
      end do
    end do
  end subroutine fill32

  subroutine fill64(a, seed)
    real(c_double), intent(out) :: a(:, :)
    integer, intent(in) :: seed
    integer :: i, j
    do j = 1, size(a, 2)
      do i = 1, size(a, 1)
        a(i, j) = real(mod(i * 7919 + j * 104729 + seed * 31, 2001) - 1000, c_double) / 512.0_c_double
      end do
    end do
  end subroutine fill64

  ! uvu, per-row weights, float32: forward and backward, 1,000 rows.
  subroutine tp_f32_per_row()
    integer, parameter :: batch = 1000
    type(oeq_problem) :: p
    type(oeq_plan) :: cpu, gpu
    integer(c_int64_t) :: d1, d2, d3, wn, b8
    real(c_float), allocatable, target :: x(:, :), y(:, :), w(:, :), dz(:, :)
    real(c_float), allocatable, target :: z(:, :), gx(:, :), gy(:, :), gw(:, :)
    real(c_float), allocatable, target :: zd(:, :), gxd(:, :), gyd(:, :), gwd(:, :)
    type(c_ptr) :: px, py, pw, pdz, pz, pgx, pgy, pgw
    integer(c_size_t) :: bx, by, bw, bz
    call p%create_channelwise('8x0e+8x1o+4x2e', '0e+1o+2e', '0e+1o+2e')
    call p%dims(d1, d2, d3)
    wn = p%weight_numel()
    call cpu%create_tp(p, OEQ_BACKEND_CPU)
    call gpu%create_tp(p, OEQ_BACKEND_CUDA)
    b8 = batch
    allocate(x(d1, batch), y(d2, batch), w(wn, batch), dz(d3, batch), z(d3, batch), gx(d1, batch), &
        gy(d2, batch), gw(wn, batch))
    call fill32(x, 1)
    call fill32(y, 2)
    call fill32(w, 3)
    call fill32(dz, 4)
    call cpu%forward(x, y, w, z)
    call cpu%backward(x, y, w, dz, gx, gy, gw)
    bx = 4 * size(x, kind=c_size_t)
    by = 4 * size(y, kind=c_size_t)
    bw = 4 * size(w, kind=c_size_t)
    bz = 4 * size(z, kind=c_size_t)
    allocate(zd, mold=z)
    allocate(gxd, mold=gx)
    allocate(gyd, mold=gy)
    allocate(gwd, mold=gw)
    zd = ieee_value(zd, ieee_quiet_nan)
    gxd = zd(1, 1)
    gyd = zd(1, 1)
    gwd = zd(1, 1)
    px = to_device(c_loc(x), bx)
    py = to_device(c_loc(y), by)
    pw = to_device(c_loc(w), bw)
    pdz = to_device(c_loc(dz), bz)
    pz = to_device(c_loc(zd), bz)
    pgx = to_device(c_loc(gxd), bx)
    pgy = to_device(c_loc(gyd), by)
    pgw = to_device(c_loc(gwd), bw)
    call gpu%forward(b8, px, py, pw, pz)
    call gpu%backward(b8, px, py, pw, pdz, pgx, pgy, pgw)
    call from_device(c_loc(zd), pz, bz)
    call from_device(c_loc(gxd), pgx, bx)
    call from_device(c_loc(gyd), pgy, by)
    call from_device(c_loc(gwd), pgw, bw)
    call oeqt_gpu_free(px)
    call oeqt_gpu_free(py)
    call oeqt_gpu_free(pw)
    call oeqt_gpu_free(pdz)
    call check32('tp f32 per-row z', zd, z)
    call check32('tp f32 per-row dx', gxd, gx)
    call check32('tp f32 per-row dy', gyd, gy)
    call check32('tp f32 per-row dw', gwd, gw)
  end subroutine tp_f32_per_row

  ! uvw fully connected, shared weights, float64: forward and backward (dw summed over 777 rows).
  subroutine tp_f64_shared()
    integer, parameter :: batch = 777
    type(oeq_problem) :: p
    type(oeq_plan) :: cpu, gpu
    integer(c_int64_t) :: d1, d2, d3, wn, b8
    real(c_double), allocatable, target :: x(:, :), y(:, :), w(:, :), dz(:, :)
    real(c_double), allocatable, target :: z(:, :), gx(:, :), gy(:, :), gw(:, :)
    real(c_double), allocatable, target :: zd(:, :), gxd(:, :), gyd(:, :), gwd(:, :)
    type(c_ptr) :: px, py, pw, pdz, pz, pgx, pgy, pgw
    integer(c_size_t) :: bx, by, bw, bz
    call p%create_fully_connected('5x0e+3x1o+2x2e', '1x0e+1x1o', '4x0e+3x1o+2x1e+1x2e')
    call p%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
    call p%set_shared_weights(.true.)
    call p%dims(d1, d2, d3)
    wn = p%weight_numel()
    call cpu%create_tp(p, OEQ_BACKEND_CPU)
    call gpu%create_tp(p, OEQ_BACKEND_CUDA)
    b8 = batch
    allocate(x(d1, batch), y(d2, batch), w(wn, 1), dz(d3, batch), z(d3, batch), gx(d1, batch), &
        gy(d2, batch), gw(wn, 1))
    call fill64(x, 5)
    call fill64(y, 6)
    call fill64(w, 7)
    call fill64(dz, 8)
    call cpu%forward(x, y, w, z)
    call cpu%backward(x, y, w, dz, gx, gy, gw)
    bx = 8 * size(x, kind=c_size_t)
    by = 8 * size(y, kind=c_size_t)
    bw = 8 * size(w, kind=c_size_t)
    bz = 8 * size(z, kind=c_size_t)
    allocate(zd, mold=z)
    allocate(gxd, mold=gx)
    allocate(gyd, mold=gy)
    allocate(gwd, mold=gw)
    zd = ieee_value(zd, ieee_quiet_nan)
    gxd = zd(1, 1)
    gyd = zd(1, 1)
    gwd = zd(1, 1)
    px = to_device(c_loc(x), bx)
    py = to_device(c_loc(y), by)
    pw = to_device(c_loc(w), bw)
    pdz = to_device(c_loc(dz), bz)
    pz = to_device(c_loc(zd), bz)
    pgx = to_device(c_loc(gxd), bx)
    pgy = to_device(c_loc(gyd), by)
    pgw = to_device(c_loc(gwd), bw)
    call gpu%forward(b8, px, py, pw, pz)
    call gpu%backward(b8, px, py, pw, pdz, pgx, pgy, pgw)
    call from_device(c_loc(zd), pz, bz)
    call from_device(c_loc(gxd), pgx, bx)
    call from_device(c_loc(gyd), pgy, by)
    call from_device(c_loc(gwd), pgw, bw)
    call oeqt_gpu_free(px)
    call oeqt_gpu_free(py)
    call oeqt_gpu_free(pw)
    call oeqt_gpu_free(pdz)
    call check('tp f64 shared z', pack(zd, .true.), pack(z, .true.), 1d-12)
    call check('tp f64 shared dx', pack(gxd, .true.), pack(gx, .true.), 1d-12)
    call check('tp f64 shared dy', pack(gyd, .true.), pack(gy, .true.), 1d-12)
    call check('tp f64 shared dw', pack(gwd, .true.), pack(gw, .true.), 1d-12)
  end subroutine tp_f64_shared

  ! Channelwise convolution, float32: 300 nodes, 4,000 edges (receivers sorted).
  subroutine conv_f32(flags)
    integer(c_int32_t), intent(in) :: flags
    integer, parameter :: nodes = 300, edges = 4000
    type(oeq_problem) :: p
    type(oeq_plan) :: cpu, gpu
    integer(c_int64_t) :: d1, d2, d3, wn, n8, e8
    integer(c_int32_t), allocatable, target :: rows(:), cols(:), perm(:)
    real(c_float), allocatable, target :: x(:, :), y(:, :), w(:, :), dz(:, :)
    real(c_float), allocatable, target :: z(:, :), gx(:, :), gy(:, :), gw(:, :)
    real(c_float), allocatable, target :: zd(:, :), gxd(:, :), gyd(:, :), gwd(:, :)
    type(c_ptr) :: px, py, pw, pdz, pz, pgx, pgy, pgw, pr, pc, pp
    integer(c_size_t) :: bx, by, bw, bz, bi
    integer :: e, c, k
    character(len=16) :: mode
    mode = merge('deterministic', 'atomic       ', iand(flags, OEQ_CONV_DETERMINISTIC) /= 0)
    allocate(rows(edges), cols(edges), perm(edges))
    do e = 0, edges - 1
      rows(e + 1) = int(int(e, c_int64_t) * nodes / edges, c_int32_t)
      cols(e + 1) = int(mod(e * 7919 + 13, nodes), c_int32_t)
    end do
    k = 0
    do c = 0, nodes - 1 ! the permutation that sorts edges by sender
      do e = 0, edges - 1
        if (cols(e + 1) == c) then
          k = k + 1
          perm(k) = int(e, c_int32_t)
        end if
      end do
    end do
    call p%create_channelwise('16x0e+8x1o', '0e+1o+2e', '0e+1o+2e')
    call p%dims(d1, d2, d3)
    wn = p%weight_numel()
    call cpu%create_conv(p, OEQ_BACKEND_CPU, flags=flags)
    call gpu%create_conv(p, OEQ_BACKEND_CUDA, flags=flags)
    n8 = nodes
    e8 = edges
    allocate(x(d1, nodes), y(d2, edges), w(wn, edges), dz(d3, nodes), z(d3, nodes), gx(d1, nodes), &
        gy(d2, edges), gw(wn, edges))
    call fill32(x, 9)
    call fill32(y, 10)
    call fill32(w, 11)
    call fill32(dz, 12)
    call cpu%conv_forward(x, y, w, rows, cols, z, sender_perm=perm)
    call cpu%conv_backward(x, y, w, dz, rows, cols, gx, gy, gw, sender_perm=perm)
    bx = 4 * size(x, kind=c_size_t)
    by = 4 * size(y, kind=c_size_t)
    bw = 4 * size(w, kind=c_size_t)
    bz = 4 * size(z, kind=c_size_t)
    bi = 4 * size(rows, kind=c_size_t)
    allocate(zd, mold=z)
    allocate(gxd, mold=gx)
    allocate(gyd, mold=gy)
    allocate(gwd, mold=gw)
    zd = ieee_value(zd, ieee_quiet_nan)
    gxd = zd(1, 1)
    gyd = zd(1, 1)
    gwd = zd(1, 1)
    px = to_device(c_loc(x), bx)
    py = to_device(c_loc(y), by)
    pw = to_device(c_loc(w), bw)
    pdz = to_device(c_loc(dz), bz)
    pr = to_device(c_loc(rows), bi)
    pc = to_device(c_loc(cols), bi)
    pp = to_device(c_loc(perm), bi)
    pz = to_device(c_loc(zd), bz)
    pgx = to_device(c_loc(gxd), bx)
    pgy = to_device(c_loc(gyd), by)
    pgw = to_device(c_loc(gwd), bw)
    call gpu%conv_forward(n8, n8, e8, px, py, pw, pr, pc, pz, sender_perm=pp)
    call gpu%conv_backward(n8, n8, e8, px, py, pw, pdz, pr, pc, pgx, pgy, pgw, sender_perm=pp)
    call from_device(c_loc(zd), pz, bz)
    call from_device(c_loc(gxd), pgx, bx)
    call from_device(c_loc(gyd), pgy, by)
    call from_device(c_loc(gwd), pgw, bw)
    call oeqt_gpu_free(px)
    call oeqt_gpu_free(py)
    call oeqt_gpu_free(pw)
    call oeqt_gpu_free(pdz)
    call oeqt_gpu_free(pr)
    call oeqt_gpu_free(pc)
    call oeqt_gpu_free(pp)
    call check32('conv f32 '//trim(mode)//' z', zd, z)
    call check32('conv f32 '//trim(mode)//' dx', gxd, gx)
    call check32('conv f32 '//trim(mode)//' dy', gyd, gy)
    call check32('conv f32 '//trim(mode)//' dw', gwd, gw)
  end subroutine conv_f32
end program test_gpu
