! md_main.f90: velocity-Verlet NVE molecular dynamics over MPI ranks with
! the message-passing potential of md_potential.f90 (oeq's fused
! convolution) and the slab decomposition of md_domain.f90.
!
! An FCC lattice (nearest neighbours at distance 1, cells^3 x 4 atoms) with
! Gaussian noise on the positions and Gaussian velocities, mass 1. Every
! number is a function of the atom's global id (md_rng), so the run is the
! same for any rank count up to the order of floating-point sums.
!
!   mpirun -n 2 examples/md/md [--backend cpu|cuda] [--cells N] [--steps S]
!       [--dt DT] [--temp T] [--noise A] [--channels C] [--thermo K]
!       [--mode md|fd] [--out FILE] [--no-pair] [--no-ml] [--fd-h H]
!       [--rotate 0..3] [--seed N]
!
! --mode md (default): run S steps and print the energies every K steps,
!   the energy conservation figures and the speed; --out FILE writes the
!   final energy and the forces by global id (for the rank-count check).
! --mode fd: compare the forces with central finite differences of the
!   energy on a few atoms (all three components).
! --rotate K: start from the configuration turned by a rotation that maps
!   the cubic box onto itself (K = 1, 2, 3): the energy must not change.
! --backend also comes from MD_BACKEND. With cuda each rank takes the GPU
! (node-local rank) modulo (GPUs on the node). cpu-ptr runs the code path
! of cuda (buffers from md_gpu.c, the type(c_ptr) overloads) on CPU plans
! with host memory: a test of that path without a GPU.
program md
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: dp => real64, error_unit
  use mpi_f08
  use oeq
  use md_rng
  use md_domain
  use md_potential
  implicit none

  interface
    integer(c_int) function md_gpu_count(n) bind(C)
      import :: c_int
      integer(c_int), intent(out) :: n
    end function md_gpu_count
    integer(c_int) function md_gpu_open(ordinal) bind(C)
      import :: c_int
      integer(c_int), value :: ordinal
    end function md_gpu_open
    subroutine md_gpu_use_host() bind(C)
    end subroutine md_gpu_use_host
  end interface

  integer :: cells = 3, steps = 100, thermo = 0, channels = 8, seed = 12345, rotate = 0
  real(dp) :: dt = 0.005_dp, temp = 0.05_dp, noise = 0.03_dp, fd_h = 1.0e-5_dp
  character(len=512) :: mode = 'md', backend_name = 'cpu'
  character(len=512) :: out_file = ''
  logical :: use_pair = .true., use_ml = .true.

  type(domain_t) :: dom
  type(potential_t) :: pot
  integer :: rank, nranks, n_atoms, device, local_rank
  integer(c_int) :: backend
  real(dp) :: box(3), energy
  real(dp), allocatable :: f(:, :)
  character(len=256) :: msg
  logical :: ok

  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)
  call parse_args()
  if (thermo <= 0) thermo = max(1, steps / 10)

  ! Backend and device: one GPU per rank, by node-local rank.
  device = 0
  backend = OEQ_BACKEND_CPU
  call node_rank(local_rank)
  if (backend_name == 'cuda') then
    backend = OEQ_BACKEND_CUDA
    block
      integer(c_int) :: n, r
      r = md_gpu_count(n)
      if (r /= 0 .or. n < 1) call stop_all('--backend cuda: no CUDA device or driver on this node')
      device = mod(local_rank, int(n))
      if (md_gpu_open(int(device, c_int)) /= 0) call stop_all('cannot open the CUDA device')
    end block
    if (.not. oeq_backend_is_available(OEQ_BACKEND_CUDA)) &
        call stop_all('oeq has no CUDA backend here: ' // oeq_error_message())
  else if (backend_name == 'cpu-ptr') then
    call md_gpu_use_host()
  else if (backend_name /= 'cpu') then
    call stop_all('--backend must be cpu, cuda or cpu-ptr')
  end if

  n_atoms = 4 * cells**3
  box = cells * sqrt(2.0_dp)
  pot%use_pair = use_pair
  pot%use_ml = use_ml
  call domain_setup(dom, MPI_COMM_WORLD, box, pot%rc, ok, msg)
  if (.not. ok) call stop_all(trim(msg))
  call make_lattice()
  call potential_init(pot, channels, backend, device, backend_name == 'cpu-ptr', MPI_COMM_WORLD, &
      rank == 0 .or. nranks <= 4)
  if (rank == 0) write(*, '(a,i0,a,i0,a,i0,a,a,a,i0,a,f0.4)') 'md: ', n_atoms, ' atoms, ', nranks, &
      ' ranks, ', channels, ' channels, backend ', trim(backend_name), ', ', cells, &
      ' cells, box ', box(1)

  select case (mode)
  case ('md')
    call run_md()
  case ('fd')
    call run_fd()
  case default
    call stop_all('--mode must be md or fd')
  end select

  call potential_free(pot)
  if (allocated(f)) deallocate(f)
  call MPI_Finalize()

contains

  ! A message from rank 0 and a clean stop of every rank (for conditions
  ! all ranks see alike).
  subroutine stop_all(text)
    character(len=*), intent(in) :: text
    if (rank == 0) write(error_unit, '(a)') 'md: ' // text
    call MPI_Finalize()
    error stop 1
  end subroutine stop_all

  subroutine node_rank(lr)
    integer, intent(out) :: lr
    type(MPI_Comm) :: node
    call MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, node)
    call MPI_Comm_rank(node, lr)
    call MPI_Comm_free(node)
  end subroutine node_rank

  subroutine parse_args()
    character(len=512) :: key, val
    integer :: i, n, ios
    call get_environment_variable('MD_BACKEND', val, status=ios)
    if (ios == 0 .and. len_trim(val) > 0) backend_name = val
    n = command_argument_count()
    i = 1
    do while (i <= n)
      call get_command_argument(i, key)
      select case (key)
      case ('--no-pair')
        use_pair = .false.
        i = i + 1
        cycle
      case ('--no-ml')
        use_ml = .false.
        i = i + 1
        cycle
      end select
      if (i == n) call stop_all('missing value after ' // trim(key))
      call get_command_argument(i + 1, val)
      ios = 0
      select case (key)
      case ('--backend')
        backend_name = val
      case ('--mode')
        mode = val
      case ('--out')
        out_file = val
      case ('--cells')
        read(val, *, iostat=ios) cells
      case ('--steps')
        read(val, *, iostat=ios) steps
      case ('--thermo')
        read(val, *, iostat=ios) thermo
      case ('--channels')
        read(val, *, iostat=ios) channels
      case ('--seed')
        read(val, *, iostat=ios) seed
      case ('--rotate')
        read(val, *, iostat=ios) rotate
      case ('--dt')
        read(val, *, iostat=ios) dt
      case ('--temp')
        read(val, *, iostat=ios) temp
      case ('--noise')
        read(val, *, iostat=ios) noise
      case ('--fd-h')
        read(val, *, iostat=ios) fd_h
      case default
        call stop_all('unknown option ' // trim(key))
      end select
      if (ios /= 0) call stop_all('bad value for ' // trim(key) // ': ' // trim(val))
      i = i + 2
    end do
    if (cells < 1 .or. steps < 0 .or. channels < 1 .or. dt <= 0 .or. temp < 0 .or. noise < 0 &
        .or. rotate < 0 .or. rotate > 3) call stop_all('--cells, --channels >= 1; --steps >= 0; ' // &
        '--dt > 0; --temp, --noise >= 0; --rotate 0..3')
  end subroutine parse_args

  ! Every rank walks the whole lattice and keeps its slab's atoms.
  subroutine make_lattice()
    real(dp), parameter :: basis(3, 4) = reshape([0.0_dp, 0.0_dp, 0.0_dp, 0.5_dp, 0.5_dp, 0.0_dp, &
        0.5_dp, 0.0_dp, 0.5_dp, 0.0_dp, 0.5_dp, 0.5_dp], [3, 4])
    ! Proper rotations that map the cube onto itself: none, 90 degrees
    ! about z, 120 degrees about (1, 1, 1), 90 degrees about x.
    real(dp), parameter :: rot(3, 3, 0:3) = reshape([ &
        1, 0, 0, 0, 1, 0, 0, 0, 1, &
        0, 1, 0, -1, 0, 0, 0, 0, 1, &
        0, 1, 0, 0, 0, 1, 1, 0, 0, &
        1, 0, 0, 0, 0, 1, 0, -1, 0], [3, 3, 4]) * 1.0_dp
    real(dp) :: a, x(3), v(3), vsum(3), vmean(3)
    integer :: i, j, k, b, id, c
    logical :: moved
    a = sqrt(2.0_dp)
    id = 0
    do i = 0, cells - 1
      do j = 0, cells - 1
        do k = 0, cells - 1
          do b = 1, 4
            id = id + 1
            x = a * ([i, j, k] + basis(:, b))
            do c = 1, 3
              x(c) = x(c) + noise * gaussian(seed, id, c)
              v(c) = sqrt(temp) * gaussian(seed + 1, id, c)
            end do
            ! A symmetry of the cubic box, about its centre (--rotate).
            x = matmul(rot(:, :, rotate), x - box / 2) + box / 2
            v = matmul(rot(:, :, rotate), v)
            x = x - box * floor(x / box)
            if (x(1) >= box(1)) x(1) = x(1) - box(1)
            if (domain_owner(dom, x(1)) == rank) call domain_add(dom, id, x, v)
          end do
        end do
      end do
    end do
    ! No net momentum.
    vsum = sum(dom%v(:, 1:dom%nlocal), dim=2)
    call MPI_Allreduce(vsum, vmean, 3, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD)
    vmean = vmean / n_atoms
    do i = 1, dom%nlocal
      dom%v(:, i) = dom%v(:, i) - vmean
    end do
    call domain_exchange(dom, moved)
    allocate(f(3, dom%nlocal))
  end subroutine make_lattice

  ! Positions changed: migrate, rebuild ghosts, new forces.
  subroutine forces()
    logical :: ok2, all_ok
    call domain_exchange(dom, ok2)
    call MPI_Allreduce(ok2, all_ok, 1, MPI_LOGICAL, MPI_LAND, MPI_COMM_WORLD)
    if (.not. all_ok) call stop_all('an atom crossed more than one slab in one step')
    call domain_borders(dom)
    if (allocated(f)) deallocate(f)
    allocate(f(3, dom%nlocal))
    call potential_compute(pot, dom, energy, f)
  end subroutine forces

  real(dp) function kinetic()
    real(dp) :: k_local
    k_local = 0.5_dp * sum(dom%v(:, 1:dom%nlocal)**2)
    call MPI_Allreduce(k_local, kinetic, 1, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD)
  end function kinetic

  subroutine run_md()
    real(dp) :: ekin, ekin0, etot0, t0, t_loop, max_dev, first_mean, last_mean
    real(dp), allocatable :: etot(:)
    integer :: step, i, w, n_moved
    allocate(etot(0:steps))
    call forces()
    ekin0 = kinetic()
    etot0 = energy + ekin0
    etot(0) = etot0
    if (rank == 0) write(*, '(a6,3a24)') 'step', 'E_pot', 'E_kin', 'E_tot'
    if (rank == 0) write(*, '(i6,3es24.15)') 0, energy, ekin0, etot0
    call MPI_Barrier(MPI_COMM_WORLD)
    t0 = MPI_Wtime()
    pot%calls%t_oeq = 0
    do step = 1, steps
      ! Velocity Verlet, mass 1. Ghosts and forces are rebuilt every step.
      do i = 1, dom%nlocal
        dom%v(:, i) = dom%v(:, i) + 0.5_dp * dt * f(:, i)
        dom%x(:, i) = dom%x(:, i) + dt * dom%v(:, i)
      end do
      call forces()
      do i = 1, dom%nlocal
        dom%v(:, i) = dom%v(:, i) + 0.5_dp * dt * f(:, i)
      end do
      ekin = kinetic()
      etot(step) = energy + ekin
      if (rank == 0 .and. mod(step, thermo) == 0) write(*, '(i6,3es24.15)') step, energy, ekin, &
          etot(step)
    end do
    call MPI_Barrier(MPI_COMM_WORLD)
    t_loop = MPI_Wtime() - t0
    call MPI_Reduce(dom%n_sent, n_moved, 1, MPI_INTEGER, MPI_SUM, 0, MPI_COMM_WORLD)
    if (rank == 0) write(*, '(a,i0,a,i0)') 'domain: atoms moved between ranks ', n_moved, &
        ', ghosts on rank 0 ', dom%nghost
    if (rank == 0 .and. steps > 0) then
      ! Energy conservation: the largest excursion from E_tot(0), and the
      ! drift (mean over the last tenth of the run minus the first tenth),
      ! both over the initial kinetic energy.
      w = max(1, steps / 10)
      max_dev = maxval(abs(etot - etot0))
      first_mean = sum(etot(0:w - 1)) / w
      last_mean = sum(etot(steps - w + 1:steps)) / w
      write(*, '(a,i0,a,es10.3,a,es12.5,a,es12.5)') 'nve: steps ', steps, ' dt ', dt, &
          ' max_dev_rel ', max_dev / ekin0, ' drift_rel ', abs(last_mean - first_mean) / ekin0
      write(*, '(a,f0.3,a,f0.2,a,es12.5,a,i0,a,f0.3,a)') 'speed: ', t_loop, ' s, timesteps/s ', &
          steps / t_loop, ' atom-steps/s ', real(n_atoms, dp) * steps / t_loop, ' edges(rank 0) ', &
          pot%n_edges, ' oeq(rank 0) ', pot%calls%t_oeq, ' s'
    end if
    if (len_trim(out_file) > 0) call write_forces()
  end subroutine run_md

  ! Energy and forces by global id, from rank 0 (each entry has exactly one
  ! nonzero contributor, so the sum over ranks is exact).
  subroutine write_forces()
    real(dp), allocatable :: fg(:, :), fsum(:, :)
    integer :: i, u
    allocate(fg(3, n_atoms), fsum(3, n_atoms))
    fg = 0
    do i = 1, dom%nlocal
      fg(:, dom%gid(i)) = f(:, i)
    end do
    call MPI_Reduce(fg, fsum, 3 * n_atoms, MPI_DOUBLE_PRECISION, MPI_SUM, 0, MPI_COMM_WORLD)
    if (rank == 0) then
      open(newunit=u, file=trim(out_file), status='replace', action='write')
      write(u, '(a,es25.17)') 'energy ', energy
      do i = 1, n_atoms
        write(u, '(i7,3es25.17)') i, fsum(:, i)
      end do
      close(u)
    end if
  end subroutine write_forces

  ! Central differences of the energy against the forces of a few atoms.
  subroutine run_fd()
    integer, parameter :: n_check = 4
    integer :: ids(n_check), a, c, i
    real(dp) :: f_an(3, n_check), f_sum(3, n_check), ep, em, fd, err, worst, fmax
    ids = [1, n_atoms / 3 + 1, 2 * n_atoms / 3 + 2, n_atoms]
    call forces()
    f_an = 0
    do a = 1, n_check
      do i = 1, dom%nlocal
        if (dom%gid(i) == ids(a)) f_an(:, a) = f(:, i)
      end do
    end do
    call MPI_Allreduce(f_an, f_sum, 3 * n_check, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD)
    fmax = maxval(abs(f_sum))
    worst = 0
    do a = 1, n_check
      do c = 1, 3
        call displace(ids(a), c, fd_h)
        call forces()
        ep = energy
        call displace(ids(a), c, -2 * fd_h)
        call forces()
        em = energy
        call displace(ids(a), c, fd_h)
        fd = -(ep - em) / (2 * fd_h)
        err = abs(fd - f_sum(c, a)) / fmax
        worst = max(worst, err)
        if (rank == 0) write(*, '(a,i6,a,i1,a,es24.15,a,es24.15,a,es9.2)') 'fd: atom ', ids(a), &
            ' x', c, ' force ', f_sum(c, a), ' -dE/dx ', fd, ' err ', err
      end do
    end do
    if (rank == 0) write(*, '(a,es10.3,a,es10.3)') 'fd: max_err_rel ', worst, ' max|F| ', fmax
  end subroutine run_fd

  subroutine displace(id, c, delta)
    integer, intent(in) :: id, c
    real(dp), intent(in) :: delta
    integer :: i
    do i = 1, dom%nlocal
      if (dom%gid(i) == id) dom%x(c, i) = dom%x(c, i) + delta
    end do
  end subroutine displace
end program md
