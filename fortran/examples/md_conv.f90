! md_conv.f90: the message-passing step of a MACE-like potential through oeq.
!
! Eight atoms on a slightly distorted ring; every atom receives from its
! neighbours within a cutoff. Node features h (8x0e+8x1o) are sent along the
! edges, combined with the edge's spherical harmonics Y (0e+1o) and a
! per-edge radial weight, and summed on the receiver: the channelwise (uvu)
! convolution of MACE's InteractionBlock, computed by oeq_conv_forward.
!
! Layout: C row-major [rows][dim] is Fortran (dim, rows): h(x_dim, n_atoms),
! Y(y_dim, n_edges), w(weight_numel, n_edges), m(z_dim, n_atoms).
! Neighbour-list indices are 0-based (C's).
!
! Host arrays run on the CPU backend. A GPU code passes device addresses as
! type(c_ptr) to the c_ptr overloads of the same procedures, with explicit
! counts, on a CUDA plan (call plan%create_conv(problem, OEQ_BACKEND_CUDA)):
!
!   CUDA Fortran (real(c_float), device :: h_d(:,:), ...):
!     use cudafor
!     integer(cuda_stream_kind) :: s
!     call plan%conv_forward(n_atoms8, n_atoms8, n_edges8, c_devloc(h_d), c_devloc(y_d), &
!         c_devloc(w_d), c_devloc(recv_d), c_devloc(send_d), c_devloc(m_d), &
!         stream=transfer(s, c_null_ptr))
!
!   OpenACC (arrays present on the device; Tinker-HP does this):
!     !$acc host_data use_device(h, y, w, recv, send, m)
!     call plan%conv_forward(n_atoms8, n_atoms8, n_edges8, c_loc(h), c_loc(y), c_loc(w), &
!         c_loc(recv), c_loc(send), c_loc(m), stream=acc_get_cuda_stream(acc_async_sync))
!     !$acc end host_data
!
!   OpenMP offload (arrays mapped with !$omp target data map(...)):
!     !$omp target data use_device_addr(h, y, w, recv, send, m)
!     call plan%conv_forward(n_atoms8, n_atoms8, n_edges8, c_loc(h), c_loc(y), c_loc(w), &
!         c_loc(recv), c_loc(send), c_loc(m))
!     !$omp end target data
!
! (n_atoms8 = int(n_atoms, c_int64_t), ...; the arrays need the target
! attribute for c_loc; a NULL stream is the default stream.)
program md_conv
  use, intrinsic :: iso_c_binding
  use oeq
  implicit none
  integer, parameter :: n_atoms = 8, max_edges = n_atoms * n_atoms
  real(c_double), parameter :: cutoff = 2.6_c_double, pi = 3.14159265358979324_c_double
  real(c_double) :: pos(3, n_atoms), d(3), r
  integer(c_int32_t) :: recv(max_edges), send(max_edges)
  real(c_float), allocatable :: h(:, :), y(:, :), w(:, :), m(:, :)
  type(oeq_problem) :: problem
  type(oeq_plan) :: plan
  integer(c_int64_t) :: x_dim, y_dim, z_dim, wn
  integer :: i, j, k, c, n_edges

  ! Atoms on a ring of radius 2, pushed in and out a little.
  do i = 1, n_atoms
    pos(:, i) = [2.0_c_double * cos(2 * pi * i / n_atoms), 2.0_c_double * sin(2 * pi * i / n_atoms), &
        0.3_c_double * (-1)**i]
  end do

  ! Neighbour list: receiver i gets a message from every sender j within the cutoff.
  n_edges = 0
  do i = 1, n_atoms
    do j = 1, n_atoms
      if (i == j) cycle
      if (norm2(pos(:, j) - pos(:, i)) < cutoff) then
        n_edges = n_edges + 1
        recv(n_edges) = int(i - 1, c_int32_t)
        send(n_edges) = int(j - 1, c_int32_t)
      end if
    end do
  end do

  call problem%create_channelwise('8x0e+8x1o', '0e+1o', '0e+1o+1e')
  call problem%dims(x_dim, y_dim, z_dim)
  wn = problem%weight_numel()
  call plan%create_conv(problem, OEQ_BACKEND_CPU)
  call problem%destroy() ! the plan keeps what it needs

  allocate(h(x_dim, n_atoms), y(y_dim, n_edges), w(wn, n_edges), m(z_dim, n_atoms))
  ! Node features: any smooth function of the atom and channel will do here.
  do i = 1, n_atoms
    do k = 1, int(x_dim)
      h(k, i) = real(sin(0.37_c_double * k + 0.91_c_double * i), c_float)
    end do
  end do
  ! Edge attributes: Y_0 = 1 and Y_1 = sqrt(3) * unit vector (component
  ! normalization); radial weights: a Bessel-like function of the distance
  ! per channel (what MACE's radial MLP would produce).
  do c = 1, n_edges
    d = pos(:, send(c) + 1) - pos(:, recv(c) + 1)
    r = norm2(d)
    y(1, c) = 1.0_c_float
    y(2:4, c) = real(sqrt(3.0_c_double) * d / r, c_float)
    do k = 1, int(wn)
      w(k, c) = real(sin(k * pi * r / cutoff) / r, c_float)
    end do
  end do

  call plan%conv_forward(h, y, w, recv(1:n_edges), send(1:n_edges), m)

  write(*, '(a,i0,a,i0,a)') 'md_conv: ', n_atoms, ' atoms, ', n_edges, ' edges'
  write(*, '(a,i0,a,i0)') 'message width ', z_dim, ', weights per edge ', wn
  write(*, '(a,es24.16)') 'checksum sum(m)      = ', sum(real(m, c_double))
  write(*, '(a,es24.16)') 'checksum sum(abs(m)) = ', sum(abs(real(m, c_double)))
  deallocate(h, y, w, m)
end program md_conv
