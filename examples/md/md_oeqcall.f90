! md_oeqcall.f90: the example's calls of oeq's convolution, on host arrays
! or through device buffers.
!
! With host arrays (CPU plans) the rank-2 real(c_double) overloads of
! module oeq take the arrays as they are. With device memory the arrays are
! copied into buffers allocated from Fortran (md_gpu.c: the CUDA driver
! API, as a CUDA Fortran or OpenACC runtime would) and their addresses go
! to the type(c_ptr) overloads with explicit counts. The edge arrays (y,
! rows, cols, sender_perm, per-layer weights) are copied once per force
! evaluation (put_edges); node arrays once per call.
module md_oeqcall
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: dp => real64, error_unit
  use mpi_f08
  use oeq
  implicit none
  private
  public :: oeq_calls_t, put_edges, conv_fwd, conv_bwd, calls_free, md_die
  public :: b_w1, b_w2

  type :: devbuf_t
    type(c_ptr) :: p = c_null_ptr
    integer(c_size_t) :: bytes = 0
  end type devbuf_t

  ! Device buffer slots.
  integer, parameter :: b_y = 1, b_rows = 2, b_cols = 3, b_perm = 4, b_w1 = 5, b_w2 = 6, &
      b_x = 7, b_z = 8, b_dx = 9, b_dy = 10, b_dw = 11, n_bufs = 11

  type :: oeq_calls_t
    ! Through md_gpu.c buffers and the type(c_ptr) overloads (the CUDA
    ! backend; on the CPU backend with md_gpu_use_host, a test of that path).
    logical :: via_ptr = .false.
    type(devbuf_t) :: buf(n_bufs)
    ! Seconds spent in the oeq calls (with the device copies around them).
    real(dp) :: t_oeq = 0
  end type oeq_calls_t

  interface
    integer(c_int) function md_gpu_alloc(p, bytes) bind(C)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), intent(out) :: p
      integer(c_size_t), value :: bytes
    end function md_gpu_alloc
    integer(c_int) function md_gpu_put(dst, src, bytes) bind(C)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), value :: dst, src
      integer(c_size_t), value :: bytes
    end function md_gpu_put
    integer(c_int) function md_gpu_get(dst, src, bytes) bind(C)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), value :: dst, src
      integer(c_size_t), value :: bytes
    end function md_gpu_get
    integer(c_int) function md_gpu_free(p) bind(C)
      import :: c_ptr, c_int
      type(c_ptr), value :: p
    end function md_gpu_free
  end interface

contains

  ! A failure on one rank: nothing collective can follow, so abort the job.
  subroutine md_die(msg)
    character(len=*), intent(in) :: msg
    write(error_unit, '(a)') 'md: ' // msg
    call MPI_Abort(MPI_COMM_WORLD, 2)
  end subroutine md_die

  subroutine calls_free(oc)
    type(oeq_calls_t), intent(inout) :: oc
    integer :: i
    do i = 1, n_bufs
      if (c_associated(oc%buf(i)%p)) then
        if (md_gpu_free(oc%buf(i)%p) /= 0) call md_die('cuMemFree failed')
        oc%buf(i)%p = c_null_ptr
        oc%buf(i)%bytes = 0
      end if
    end do
  end subroutine calls_free

  ! The per-edge arrays both layers share, and each layer's weights.
  subroutine put_edges(oc, rows, cols, perm, y, w1, w2)
    type(oeq_calls_t), intent(inout) :: oc
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:), perm(:)
    real(dp), intent(in), target, contiguous :: y(:, :), w1(:, :), w2(:, :)
    if (.not. oc%via_ptr) return
    call put_i(oc%buf(b_rows), rows)
    call put_i(oc%buf(b_cols), cols)
    call put_i(oc%buf(b_perm), perm)
    call put(oc%buf(b_y), y)
    call put(oc%buf(b_w1), w1)
    call put(oc%buf(b_w2), w2)
  end subroutine put_edges

  subroutine conv_fwd(oc, plan, x, bw, w, y, rows, cols, perm, z)
    type(oeq_calls_t), intent(inout) :: oc
    type(oeq_plan), intent(in) :: plan
    real(dp), intent(in), target, contiguous :: x(:, :), w(:, :), y(:, :)
    integer, intent(in) :: bw
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:), perm(:)
    real(dp), intent(inout), target, contiguous :: z(:, :)
    integer :: st
    real(dp) :: t0
    t0 = MPI_Wtime()
    if (.not. oc%via_ptr) then
      call plan%conv_forward(x, y, w, rows, cols, z, sender_perm=perm, stat=st)
    else
      call put(oc%buf(b_x), x)
      call reserve(oc%buf(b_z), storage(z))
      call plan%conv_forward(size(x, 2, c_int64_t), size(z, 2, c_int64_t), size(rows, kind=c_int64_t), &
          oc%buf(b_x)%p, oc%buf(b_y)%p, oc%buf(bw)%p, oc%buf(b_rows)%p, oc%buf(b_cols)%p, &
          oc%buf(b_z)%p, sender_perm=oc%buf(b_perm)%p, stat=st)
      if (st == OEQ_SUCCESS) call get(z, oc%buf(b_z))
    end if
    if (st /= OEQ_SUCCESS) call md_die('conv_forward: ' // oeq_error_message())
    oc%t_oeq = oc%t_oeq + (MPI_Wtime() - t0)
  end subroutine conv_fwd

  subroutine conv_bwd(oc, plan, x, bw, w, y, dz, rows, cols, perm, dx, dy, dw)
    type(oeq_calls_t), intent(inout) :: oc
    type(oeq_plan), intent(in) :: plan
    real(dp), intent(in), target, contiguous :: x(:, :), w(:, :), y(:, :), dz(:, :)
    integer, intent(in) :: bw
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:), perm(:)
    real(dp), intent(inout), target, contiguous :: dx(:, :), dy(:, :), dw(:, :)
    integer :: st
    real(dp) :: t0
    t0 = MPI_Wtime()
    if (.not. oc%via_ptr) then
      call plan%conv_backward(x, y, w, dz, rows, cols, dx, dy, dw, sender_perm=perm, stat=st)
    else
      call put(oc%buf(b_x), x)
      call put(oc%buf(b_z), dz)
      call reserve(oc%buf(b_dx), storage(dx))
      call reserve(oc%buf(b_dy), storage(dy))
      call reserve(oc%buf(b_dw), storage(dw))
      call plan%conv_backward(size(x, 2, c_int64_t), size(dz, 2, c_int64_t), &
          size(rows, kind=c_int64_t), oc%buf(b_x)%p, oc%buf(b_y)%p, oc%buf(bw)%p, &
          oc%buf(b_z)%p, oc%buf(b_rows)%p, oc%buf(b_cols)%p, oc%buf(b_dx)%p, &
          oc%buf(b_dy)%p, oc%buf(b_dw)%p, sender_perm=oc%buf(b_perm)%p, stat=st)
      if (st == OEQ_SUCCESS) then
        call get(dx, oc%buf(b_dx))
        call get(dy, oc%buf(b_dy))
        call get(dw, oc%buf(b_dw))
      end if
    end if
    if (st /= OEQ_SUCCESS) call md_die('conv_backward: ' // oeq_error_message())
    oc%t_oeq = oc%t_oeq + (MPI_Wtime() - t0)
  end subroutine conv_bwd

  ! ------------------------------------------------------- device buffers

  integer(c_size_t) function storage(a)
    real(dp), intent(in) :: a(:, :)
    storage = int(size(a), c_size_t) * 8
  end function storage

  ! At least `bytes` of device memory in b (grown, never shrunk).
  subroutine reserve(b, bytes)
    type(devbuf_t), intent(inout) :: b
    integer(c_size_t), intent(in) :: bytes
    if (bytes <= b%bytes .and. c_associated(b%p)) return
    if (c_associated(b%p)) then
      if (md_gpu_free(b%p) /= 0) call md_die('cuMemFree failed')
    end if
    b%bytes = max(bytes, 2 * b%bytes)
    if (md_gpu_alloc(b%p, b%bytes) /= 0) call md_die('cuMemAlloc failed')
  end subroutine reserve

  subroutine put(b, a)
    type(devbuf_t), intent(inout) :: b
    real(dp), intent(in), target, contiguous :: a(:, :)
    call reserve(b, storage(a))
    if (size(a) > 0) then
      if (md_gpu_put(b%p, c_loc(a), storage(a)) /= 0) call md_die('copy to the device failed')
    end if
  end subroutine put

  subroutine put_i(b, a)
    type(devbuf_t), intent(inout) :: b
    integer(c_int32_t), intent(in), target, contiguous :: a(:)
    call reserve(b, int(size(a), c_size_t) * 4)
    if (size(a) > 0) then
      if (md_gpu_put(b%p, c_loc(a), int(size(a), c_size_t) * 4) /= 0) &
          call md_die('copy to the device failed')
    end if
  end subroutine put_i

  subroutine get(a, b)
    real(dp), intent(inout), target, contiguous :: a(:, :)
    type(devbuf_t), intent(in) :: b
    if (size(a) == 0) return
    if (md_gpu_get(c_loc(a), b%p, storage(a)) /= 0) call md_die('copy from the device failed')
  end subroutine get
end module md_oeqcall
